package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
)

// Recovery: what Up, Refresh and Destroy do first with a stack that an
// interrupted operation left pending operations in, or whose GitLab,
// bastion or cluster is gone.
//
// The state is edited by export and import: `pulumi stack export` without
// --show-secrets, so the secrets stay encrypted in what is edited and in
// the file the Automation API's Import writes; the secrets the probes need
// (the bastion key, a kubeconfig) are read from a second export with them
// decrypted, kept in memory only (auto's Stack.Export passes
// --show-secrets: sdk/go/auto/local_workspace.go ExportStack, v3.274.1).
// Version 3.274.1 of the Automation API has no `state delete` of its own
// beyond the generated StateRemove (sdk/go/auto/automation/commands.go),
// which refuses a resource others depend on, and nothing for pending
// operations; `pulumi stack import` drops pending operations itself, with a
// warning (pkg/cmd/pulumi/stack/io.go).

// ProbeTimeout bounds each probe of the GitLab host (through the bastion)
// and of a cluster's API before refresh or destroy.
const ProbeTimeout = 20 * time.Second

// Resource type tokens the recovery knows.
const (
	// gitlabConfiguredType and gitlabReadyType (a stack made before
	// GitLabConfigured) are the resources whose inputs say how to reach
	// GitLab through the bastion (provider/gitlabconfigured.go, gitlabready.go).
	gitlabConfiguredType = "gitlabwait:index:GitLabConfigured"
	gitlabReadyType      = "gitlabwait:index:GitLabReady"
	// gitlabPackage and gitlabwaitPackage start the tokens of the
	// GitLab-side resources: the GitLab provider's and the readiness
	// provider's, which reach GitLab through the bastion.
	gitlabPackage     = "gitlab:"
	gitlabwaitPackage = "gitlabwait:"
	// gitlabProviderType is the GitLab provider's own resource.
	gitlabProviderType = "pulumi:providers:gitlab"
	// kubernetesProviderType is a Kubernetes provider's own resource.
	kubernetesProviderType = "pulumi:providers:kubernetes"
)

// errCannotProbe marks a probe that could not be made (the state does not
// say how): no evidence that the part is gone, so nothing is skipped.
var errCannotProbe = errors.New("cannot probe")

// PendingOperation is an operation that an interrupted update left
// unfinished in the stack's state.
type PendingOperation struct {
	// URN, Type and Name are the resource's.
	URN, Type, Name string
	// Op is what the engine was doing: creating, updating, deleting, reading or importing.
	Op string
}

// SkippedPart is a part of the deployment that does not answer, whose
// resources an operation leaves alone.
type SkippedPart struct {
	// Part is what does not answer: "GitLab" or the Kubernetes provider's name.
	Part string
	// Reason is what the probe saw.
	Reason string
	// Resources are the resources skipped (URNs).
	Resources []string
}

// state is an exported deployment, edited as JSON so that fields this
// package does not know survive the round trip.
type state struct {
	version    int
	deployment map[string]json.RawMessage
	resources  []map[string]json.RawMessage
	views      []resourceView
}

// resourceView is what the recovery reads of a resource.
type resourceView struct {
	URN      string         `json:"urn"`
	Type     string         `json:"type"`
	Custom   bool           `json:"custom"`
	Provider string         `json:"provider"`
	Parent   string         `json:"parent"`
	Inputs   map[string]any `json:"inputs"`
	Outputs  map[string]any `json:"outputs"`
}

// pendingView is what the recovery reads of a pending operation.
type pendingView struct {
	Resource struct {
		URN  string `json:"urn"`
		Type string `json:"type"`
	} `json:"resource"`
	Type string `json:"type"`
}

func parseState(d apitype.UntypedDeployment) (*state, error) {
	st := &state{version: d.Version}
	if len(d.Deployment) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(d.Deployment, &st.deployment); err != nil {
		return nil, fmt.Errorf("read the stack's state: %w", err)
	}
	if raw, ok := st.deployment["resources"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &st.resources); err != nil {
			return nil, fmt.Errorf("read the stack's resources: %w", err)
		}
		if err := json.Unmarshal(raw, &st.views); err != nil {
			return nil, fmt.Errorf("read the stack's resources: %w", err)
		}
	}
	return st, nil
}

// pending returns the state's pending operations.
func (st *state) pending() ([]PendingOperation, error) {
	raw, ok := st.deployment["pending_operations"]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var ops []pendingView
	if err := json.Unmarshal(raw, &ops); err != nil {
		return nil, fmt.Errorf("read the stack's pending operations: %w", err)
	}
	out := make([]PendingOperation, len(ops))
	for i, op := range ops {
		out[i] = PendingOperation{URN: op.Resource.URN, Type: op.Resource.Type, Name: urnName(op.Resource.URN), Op: op.Type}
	}
	return out, nil
}

// clearPending drops the pending operations.
func (st *state) clearPending() { delete(st.deployment, "pending_operations") }

// drop removes the resources in urns from the state, with their children,
// and every reference the others keep to them (dependencies, property
// dependencies, deleted-with), so the state stays whole. It returns the
// URNs removed, in state order.
func (st *state) drop(urns map[string]bool) ([]string, error) {
	gone := map[string]bool{}
	for u := range urns {
		gone[u] = true
	}
	// Children go with their parent: parents come first in the state.
	for _, v := range st.views {
		if v.Parent != "" && gone[v.Parent] {
			gone[v.URN] = true
		}
	}
	var removed []string
	var keptRaw []map[string]json.RawMessage
	var keptViews []resourceView
	for i, v := range st.views {
		if gone[v.URN] {
			removed = append(removed, v.URN)
			continue
		}
		r := st.resources[i]
		if err := unlink(r, gone); err != nil {
			return nil, fmt.Errorf("resource %s: %w", v.URN, err)
		}
		keptRaw = append(keptRaw, r)
		keptViews = append(keptViews, v)
	}
	st.resources, st.views = keptRaw, keptViews
	return removed, nil
}

// unlink removes from one resource's JSON its references to gone resources.
func unlink(r map[string]json.RawMessage, gone map[string]bool) error {
	if raw, ok := r["dependencies"]; ok {
		var deps []string
		if err := json.Unmarshal(raw, &deps); err != nil {
			return err
		}
		deps = slices.DeleteFunc(deps, func(u string) bool { return gone[u] })
		b, _ := json.Marshal(deps)
		r["dependencies"] = b
	}
	if raw, ok := r["propertyDependencies"]; ok {
		var pdeps map[string][]string
		if err := json.Unmarshal(raw, &pdeps); err != nil {
			return err
		}
		for k, deps := range pdeps {
			pdeps[k] = slices.DeleteFunc(deps, func(u string) bool { return gone[u] })
		}
		b, _ := json.Marshal(pdeps)
		r["propertyDependencies"] = b
	}
	if raw, ok := r["deletedWith"]; ok {
		var u string
		if json.Unmarshal(raw, &u) == nil && gone[u] {
			delete(r, "deletedWith")
		}
	}
	return nil
}

// encode returns the edited deployment.
func (st *state) encode() (apitype.UntypedDeployment, error) {
	if st.resources != nil {
		b, err := json.Marshal(st.resources)
		if err != nil {
			return apitype.UntypedDeployment{}, err
		}
		st.deployment["resources"] = b
	}
	b, err := json.Marshal(st.deployment)
	if err != nil {
		return apitype.UntypedDeployment{}, err
	}
	return apitype.UntypedDeployment{Version: st.version, Deployment: b}, nil
}

// gitlabSide are the URNs of the resources that talk to GitLab: the GitLab
// provider's resources and the readiness provider's waits.
func (st *state) gitlabSide() map[string]bool {
	urns := map[string]bool{}
	for _, v := range st.views {
		if v.Custom && (strings.HasPrefix(v.Type, gitlabPackage) || strings.HasPrefix(v.Type, gitlabwaitPackage)) {
			urns[v.URN] = true
		}
	}
	return urns
}

// managedBy are the URNs of the resources whose provider is the provider
// resource providerURN.
func (st *state) managedBy(providerURN string) map[string]bool {
	urns := map[string]bool{}
	for _, v := range st.views {
		if ref, _, ok := cutProviderRef(v.Provider); ok && ref == providerURN {
			urns[v.URN] = true
		}
	}
	return urns
}

// cutProviderRef splits a provider reference, "URN::ID".
func cutProviderRef(ref string) (urn, id string, ok bool) {
	i := strings.LastIndex(ref, "::")
	if i < 0 {
		return "", "", false
	}
	return ref[:i], ref[i+2:], true
}

// exportEncrypted exports the stack's state with its secrets encrypted.
func (s *Stack) exportEncrypted(ctx context.Context) (apitype.UntypedDeployment, error) {
	ws := s.stack.Workspace()
	env := []string{}
	if home := ws.PulumiHome(); home != "" {
		env = append(env, "PULUMI_HOME="+home)
	}
	for k, v := range ws.GetEnvVars() {
		env = append(env, k+"="+v)
	}
	stdout, stderr, code, err := ws.PulumiCommand().Run(ctx, ws.WorkDir(), nil, nil, nil, env,
		"stack", "export", "--stack", s.stack.Name())
	if err != nil || code != 0 {
		return apitype.UntypedDeployment{}, fmt.Errorf("export the state of stack %q: %v: %s", s.opts.StackName, err, strings.TrimSpace(stderr))
	}
	var d apitype.UntypedDeployment
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		return apitype.UntypedDeployment{}, fmt.Errorf("export the state of stack %q: %w", s.opts.StackName, err)
	}
	return d, nil
}

// importState writes an edited state back.
func (s *Stack) importState(ctx context.Context, st *state) error {
	d, err := st.encode()
	if err != nil {
		return err
	}
	if err := s.stack.Import(ctx, d); err != nil {
		return fmt.Errorf("write the edited state of stack %q back: %w", s.opts.StackName, err)
	}
	return nil
}

// ClearPending removes the pending operations an interrupted update left
// in the stack's state and returns them; none is no change. A resource
// that was being created may exist in the cloud without being in the
// state: check each one (Up, Refresh and Destroy do this first and say so
// on ErrorProgress).
func (s *Stack) ClearPending(ctx context.Context) ([]PendingOperation, error) {
	d, err := s.exportEncrypted(ctx)
	if err != nil {
		return nil, err
	}
	_, ops, err := s.clearPendingIn(ctx, d)
	return ops, err
}

// clearPendingIn clears the pending operations of the exported state d,
// writing it back when it has any, and returns the state as it then is.
func (s *Stack) clearPendingIn(ctx context.Context, d apitype.UntypedDeployment) (*state, []PendingOperation, error) {
	st, err := parseState(d)
	if err != nil {
		return nil, nil, err
	}
	ops, err := st.pending()
	if err != nil || len(ops) == 0 {
		return st, nil, err
	}
	st.clearPending()
	if err := s.importState(ctx, st); err != nil {
		return nil, nil, err
	}
	return st, ops, nil
}

// PendingNotice says what clearing ops means for the user.
func PendingNotice(stackName string, ops []PendingOperation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "notice: the last update of stack %q was interrupted while the engine was changing these resources; "+
		"their pending operations are cleared from the state:", stackName)
	creating := false
	for _, op := range ops {
		fmt.Fprintf(&b, "\n  %s %s %q (%s)", op.Op, op.Type, op.Name, op.URN)
		creating = creating || op.Op == string(apitype.OperationTypeCreating)
	}
	if creating {
		b.WriteString("\n  a resource that was being created may exist in Scaleway without being in the stack: look for it " +
			"in the Scaleway console (https://console.scaleway.com) by its name and delete it, or the next up creates another one")
	}
	b.WriteString("\n  one that was being updated or deleted is read again by `refresh`")
	return b.String()
}

// clearPendingWithNotice clears the pending operations like ClearPending
// and tells the user; it returns the state as it is then, or nil when it
// cannot be read, which is left to the operation: it then says why.
func (s *Stack) clearPendingWithNotice(ctx context.Context) (*state, error) {
	if s.stateBusy() {
		return nil, nil
	}
	d, err := s.exportEncrypted(ctx)
	if err != nil {
		fmt.Fprintf(s.errorProgress(), "notice: the state was not checked for operations an interrupted update left pending: %v\n", err)
		return nil, nil
	}
	st, ops, err := s.clearPendingIn(ctx, d)
	if len(ops) > 0 {
		fmt.Fprintln(s.errorProgress(), PendingNotice(s.opts.StackName, ops))
	}
	return st, err
}

// stateBusy reports whether another operation holds the stack's lock, so
// that its state must not be edited: an update that is running has
// pending operations of its own, and one that ends between an export and
// an import would lose what it recorded. `pulumi stack import` takes the
// lock itself (pkg/backend/diy/backend.go, ImportDeployment, v3.274.1), so
// an import fails while an update holds it; the check here also closes the
// window in which an update could end between the two. On a file backend,
// the locks of dead processes of this host (an up that was killed) are
// removed first, as after a cancel; other backends are left to the
// import's own lock. A busy stack is left to the operation, which then
// fails with ErrLocked.
func (s *Stack) stateBusy() bool {
	if !strings.HasPrefix(s.backend, "file://") {
		return false
	}
	if err := removeStaleLocks(s.backend, s.stack.Workspace(), s.opts.StackName); err != nil {
		return true
	}
	dir, err := FileBackendDir(s.backend)
	if err != nil {
		return true
	}
	project := ""
	if p, err := s.stack.Workspace().ProjectSettings(context.Background()); err == nil && p != nil {
		project = p.Name.String()
	}
	locks, err := StackLocks(dir, project, s.opts.StackName)
	return err != nil || len(locks) > 0
}

// hasGuarded reports whether the state holds a resource of a guarded type:
// only those can be replaced or deleted.
func (st *state) hasGuarded() bool {
	for _, v := range st.views {
		if _, ok := guardedTypes[v.Type]; ok {
			return true
		}
	}
	return false
}

// Prober says whether the parts of a deployment answer. The zero value
// probes for real, each probe bounded by ProbeTimeout.
type Prober struct {
	// GitLab probes GitLab's readiness through the bastion with the
	// readiness wait's own inputs; nil uses the readiness provider's code.
	GitLab func(ctx context.Context, args provider.GitLabReadyArgs) error
	// Cluster probes a cluster's API server ("host:port"); nil dials it.
	Cluster func(ctx context.Context, addr string) error
}

// probeGitLab makes one readiness request through the bastion, as the
// readiness provider does (provider.Waiter, Session.Poll): an error when
// there is no answer or GitLab is not ready.
func probeGitLab(ctx context.Context, args provider.GitLabReadyArgs) error {
	cfg, err := args.WaitConfig()
	if err != nil {
		return fmt.Errorf("%w: %w", errCannotProbe, err)
	}
	sess, err := (&provider.Waiter{AttemptTimeout: ProbeTimeout}).Open(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", errCannotProbe, err)
	}
	defer sess.Close()
	st, err := sess.Poll(ctx)
	if err != nil {
		return err
	}
	if !st.Ready {
		return fmt.Errorf("GitLab answers but is not ready: %s", st.Detail)
	}
	return nil
}

// probeCluster opens a TCP connection to a cluster's API server.
func probeCluster(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// unreachable probes the GitLab host (when the state has its readiness
// wait) and each cluster (each Kubernetes provider with a kubeconfig) of
// the state, and returns the parts that do not answer with the resources
// that depend on them: the GitLab-side resources, and the objects in a
// cluster. plain is the state with its secrets decrypted (the probes need
// the bastion key and the kubeconfigs); st is the state to edit.
func (p Prober) unreachable(ctx context.Context, plain, st *state) []SkippedPart {
	gitlab, cluster := p.GitLab, p.Cluster
	if gitlab == nil {
		gitlab = probeGitLab
	}
	if cluster == nil {
		cluster = probeCluster
	}
	var parts []SkippedPart
	probedGitLab := false
	for _, v := range plain.views {
		switch {
		case (v.Type == gitlabConfiguredType || v.Type == gitlabReadyType) && v.Custom && !probedGitLab:
			args, err := gitlabReadyArgs(v)
			if err != nil {
				continue // no evidence either way: nothing is skipped
			}
			probedGitLab = true
			pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
			err = gitlab(pctx, args)
			cancel()
			if err == nil || errors.Is(err, errCannotProbe) {
				continue
			}
			reason := "GitLab does not answer behind the bastion: " + err.Error()
			if bastionFailed(err) {
				reason = "the bastion does not answer: " + err.Error()
			}
			parts = append(parts, SkippedPart{Part: gitlabPart, Reason: reason, Resources: sorted(st.gitlabSide())})
		case v.Type == kubernetesProviderType:
			server := kubeconfigServer(plainString(v.Inputs["kubeconfig"]))
			if server == "" {
				continue
			}
			addr, err := hostPort(server)
			if err == nil {
				pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
				err = cluster(pctx, addr)
				cancel()
			}
			if err == nil {
				continue
			}
			if objs := st.managedBy(v.URN); len(objs) > 0 {
				parts = append(parts, SkippedPart{
					Part:   "the Kubernetes cluster of provider " + urnName(v.URN),
					Reason: fmt.Sprintf("its API %s does not answer: %v", server, err), Resources: sorted(objs),
				})
			}
		}
	}
	return parts
}

// gitlabPart names GitLab in a SkippedPart.
const gitlabPart = "GitLab"

// bastionFailed tells a failed GitLab probe that did not get past the
// bastion (unreachable, handshake, refused key, changed host key) from one
// whose bastion could not connect to GitLab (*sshbastion.TargetError) or
// that GitLab answered. The readiness provider wraps a failed SSH
// connection as "bastion ADDR: ..." (provider/bastion.go, dialError).
func bastionFailed(err error) bool {
	if _, ok := errors.AsType[*sshbastion.TargetError](err); ok {
		return false
	}
	if _, ok := errors.AsType[*sshbastion.UnreachableError](err); ok {
		return true
	}
	if errors.Is(err, sshbastion.ErrKeyRefused) || errors.Is(err, sshbastion.ErrHostKeyMismatch) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "bastion ") && !strings.Contains(msg, "could not connect to") && !strings.Contains(msg, "GitLab answers")
}

// gitlabReadyArgs reads the inputs GitLabConfigured (or GitLabReady) shares
// with every wait (provider.Access) from the state.
func gitlabReadyArgs(v resourceView) (provider.GitLabReadyArgs, error) {
	in := v.Inputs
	var a provider.GitLabReadyArgs
	a.BastionHost = plainString(in["bastionHost"])
	a.BastionUser = plainString(in["bastionUser"])
	a.PrivateKey = plainString(in["privateKey"])
	a.HostKeyFingerprint = plainString(in["hostKeyFingerprint"])
	// The host key the wait trusted on first use pins the probe too.
	if a.HostKeyFingerprint == "" {
		a.HostKeyFingerprint = plainString(v.Outputs["bastionHostKeyFingerprint"])
	}
	a.TargetHost = plainString(in["targetHost"])
	a.Scheme = plainString(in["scheme"])
	a.CaCert = plainString(in["caCert"])
	a.Path = plainString(in["path"])
	var err error
	if a.BastionPort, err = plainInt(in["bastionPort"]); err != nil {
		return a, fmt.Errorf("bastionPort: %w", err)
	}
	if a.TargetPort, err = plainInt(in["targetPort"]); err != nil {
		return a, fmt.Errorf("targetPort: %w", err)
	}
	if a.BastionHost == "" || a.PrivateKey == "" || a.TargetHost == "" {
		return a, errors.New("the readiness wait in the state does not say how to reach GitLab (bastionHost, privateKey, targetHost)")
	}
	return a, nil
}

// secretSig marks a secret value in an exported state
// (sdk/go/common/resource/sig, Secret).
const secretSig = "1b47061264138c4ac30d75fd1eb44270"

// plain returns a state value with a decrypted secret unwrapped (an
// export with --show-secrets writes it as its JSON under "plaintext").
func plain(v any) any {
	m, ok := v.(map[string]any)
	if !ok || m["4dabf18193072939515e22adb298388d"] != secretSig {
		return v
	}
	text, ok := m["plaintext"].(string)
	if !ok {
		return nil
	}
	var out any
	if json.Unmarshal([]byte(text), &out) != nil {
		return nil
	}
	return out
}

func plainString(v any) string {
	s, _ := plain(v).(string)
	return s
}

func plainInt(v any) (int, error) {
	switch x := plain(v).(type) {
	case nil:
		return 0, nil
	case float64:
		return int(x), nil
	case string:
		return strconv.Atoi(x)
	default:
		return 0, fmt.Errorf("%v is not a number", x)
	}
}

// kubeconfigServerLine finds a kubeconfig's server URL (YAML or JSON).
var kubeconfigServerLine = regexp.MustCompile(`"?server"?\s*:\s*"?([^"\s,}]+)`)

// kubeconfigServer is the first cluster's API URL in a kubeconfig, or "".
func kubeconfigServer(kubeconfig string) string {
	m := kubeconfigServerLine.FindStringSubmatch(kubeconfig)
	if m == nil {
		return ""
	}
	return m[1]
}

// hostPort is the host:port of an https URL, 443 by default.
func hostPort(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a URL", raw)
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	return net.JoinHostPort(u.Hostname(), "443"), nil
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// SkippedNotice says what an operation skips and why.
func SkippedNotice(op string, parts []SkippedPart) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString("\n")
		}
		switch op {
		case "destroy":
			fmt.Fprintf(&b, "notice: %s is unreachable (%s): destroy removes its %d resources from the stack without deleting them there:",
				p.Part, p.Reason, len(p.Resources))
		default:
			fmt.Fprintf(&b, "notice: %s is unreachable (%s): %s skips its %d resources, which keep their last recorded state:",
				p.Part, p.Reason, op, len(p.Resources))
		}
		for _, u := range p.Resources {
			fmt.Fprintf(&b, "\n  %s", u)
		}
		if op == "destroy" && p.Part == gitlabPart {
			b.WriteString("\n  they live in GitLab's database, which goes with the GitLab host, or stays on its data volume " +
				"when that is retained: there, delete the agents' registrations by hand if GitLab comes back")
		}
	}
	return b.String()
}

// recoverParts probes the deployment's parts before a refresh or destroy.
// For destroy, the resources of a part that does not answer are removed
// from the state (they could not be deleted, and everything behind them
// would wait); for refresh, their URNs are returned to be excluded. It
// tells the user what is skipped, and turns the GitLab provider's early
// auth check off for the operation when GitLab is gone (see wrap).
func (s *Stack) recoverParts(ctx context.Context, op string) (exclude []string, err error) {
	if s.stateBusy() {
		return nil, nil
	}
	enc, err := s.exportEncrypted(ctx)
	if err != nil {
		// Left to the operation, which then says why.
		fmt.Fprintf(s.errorProgress(), "notice: GitLab and the clusters were not probed before %s: %v\n", op, err)
		return nil, nil
	}
	st, err := parseState(enc)
	if err != nil || len(st.views) == 0 {
		return nil, err
	}
	decrypted, err := s.stack.Export(ctx)
	if err != nil {
		fmt.Fprintf(s.errorProgress(), "notice: GitLab and the clusters were not probed before %s: %v\n", op, engineMessage(err))
		return nil, nil
	}
	plainSt, err := parseState(decrypted)
	if err != nil {
		return nil, err
	}
	parts := s.opts.Prober.unreachable(ctx, plainSt, st)
	if len(parts) == 0 {
		return nil, nil
	}
	for _, p := range parts {
		if p.Part == gitlabPart {
			s.gitlabGone = true
		}
	}
	fmt.Fprintln(s.errorProgress(), SkippedNotice(op, parts))
	urns := map[string]bool{}
	for _, p := range parts {
		for _, u := range p.Resources {
			urns[u] = true
		}
	}
	if op != "destroy" {
		return sorted(urns), nil
	}
	if _, err := st.drop(urns); err != nil {
		return nil, err
	}
	return nil, s.importState(ctx, st)
}

// destroyTransform adjusts two providers for a destroy, which must
// finish with GitLab or a cluster gone; refresh gets the first when GitLab
// does not answer.
//
// The GitLab provider's earlyAuthCheck goes off. pulumi-gitlab v6.11.0's
// provider, when it is configured, asks GitLab for the token's user to
// check its settings and that the API answers, unless earlyAuthCheck is
// false (sdk/go/gitlab/provider.go, the field's documentation; it is on by
// default, and the program sets it on, components/agent.go), so that a bad
// token fails before anything is created. In destroy the engine configures every
// provider the program registers as in an update
// (pkg/resource/deploy/step_generator.go, destroyMode, v3.274.1), so with
// GitLab gone that check would fail the whole destroy, even with no GitLab
// resource left to delete; the deletes themselves still report a refused
// token.
//
// A Kubernetes provider gets deleteUnreachable. The provider marks a
// cluster unreachable when its kubeconfig or its API's discovery fails,
// and with deleteUnreachable its Delete of an object then succeeds instead
// of failing (pulumi-kubernetes provider/pkg/provider/provider.go,
// Configure and Delete; the Helm release's Delete fails regardless, so
// recoverParts removes a gone cluster's objects from the state first). It
// is set for destroy only, where it takes effect at once (the engine
// updates a provider the program registers), not in the program: in a
// refresh it would drop the objects of a cluster that is only briefly
// unreachable from the state (its Read), and since pulumi-kubernetes
// v4.29.0 creates objects client-side, the next up would then fail on
// objects that exist (AlreadyExists, unless upsertExistingObjects).
// A plain `pulumi destroy` gets the same from PULUMI_K8S_DELETE_UNREACHABLE=true.
func destroyTransform(kubernetes bool) pulumi.ResourceTransform {
	return func(_ context.Context, args *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
		var key string
		switch {
		case args.Type == gitlabProviderType:
			key = "earlyAuthCheck"
		case args.Type == kubernetesProviderType && kubernetes:
			key = "deleteUnreachable"
		default:
			return nil
		}
		props := pulumi.Map{}
		for k, v := range args.Props {
			props[k] = v
		}
		props[key] = pulumi.Bool(key == "deleteUnreachable")
		return &pulumi.ResourceTransformResult{Props: props, Opts: args.Opts}
	}
}

// refreshExclude is the option that excludes urns from a refresh whose
// own options are opts, keeping the exclusions these already make
// (optrefresh.Exclude sets the list, so the last one would win).
func refreshExclude(urns []string, opts []optrefresh.Option) []optrefresh.Option {
	if len(urns) == 0 {
		return nil
	}
	var o optrefresh.Options
	for _, opt := range opts {
		opt.ApplyOption(&o)
	}
	all := append(slices.Clone(o.Exclude), urns...)
	slices.Sort(all)
	return []optrefresh.Option{optrefresh.Exclude(slices.Compact(all))}
}

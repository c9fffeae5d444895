package provider

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Defaults of GitLabReady's own optional inputs (the shared ones are in access.go).
const (
	// DefaultPath is the readiness endpoint with every dependency checked.
	DefaultPath = "/-/readiness?all=1"
	// DefaultTimeout covers a first Omnibus boot and reconfigure.
	DefaultTimeout = "30m"
)

// GitLabReady is the resource that, on create, waits until GitLab answers its
// readiness endpoint through the Public Gateway's SSH bastion.
type GitLabReady struct {
	opts Options
}

// GitLabReadyArgs are GitLabReady's inputs.
type GitLabReadyArgs struct {
	// BastionHost is the Public Gateway's public address.
	BastionHost string `pulumi:"bastionHost"`
	// BastionPort is the SSH bastion's port.
	BastionPort int `pulumi:"bastionPort"`
	// BastionUser is the bastion's login.
	BastionUser string `pulumi:"bastionUser,optional"`
	// PrivateKey is the OpenSSH or PKCS#8 PEM private key the bastion trusts.
	PrivateKey string `pulumi:"privateKey" provider:"secret"`
	// HostKeyFingerprint pins the bastion's host key; empty trusts on first use.
	HostKeyFingerprint string `pulumi:"hostKeyFingerprint,optional"`
	// TargetHost is GitLab's private address.
	TargetHost string `pulumi:"targetHost"`
	// TargetPort is GitLab's HTTP(S) port.
	TargetPort int `pulumi:"targetPort,optional"`
	// Scheme is "http" or "https".
	Scheme string `pulumi:"scheme,optional"`
	// CaCert is the PEM CA of GitLab's certificate, for https.
	CaCert string `pulumi:"caCert,optional"`
	// Path is the readiness path and query.
	Path string `pulumi:"path,optional"`
	// Timeout is the longest wait, as a Go duration.
	Timeout string `pulumi:"timeout,optional"`
	// PollInterval caps the pause between attempts, as a Go duration.
	PollInterval string `pulumi:"pollInterval,optional"`
	// InstanceID is GitLab's instance id; a new one means waiting again.
	InstanceID string `pulumi:"instanceId,optional"`
	// Token is a personal access token that must work before GitLab counts as ready.
	Token string `pulumi:"token,optional" provider:"secret"`
}

// GitLabReadyState is GitLabReady's state: its inputs and what the wait saw.
type GitLabReadyState struct {
	GitLabReadyArgs
	// ReadyAt is when GitLab answered ready (RFC 3339, UTC).
	ReadyAt string `pulumi:"readyAt"`
	// Version is the GitLab version seen, or "".
	Version string `pulumi:"version"`
	// BastionHostKeyFingerprint is the bastion host key fingerprint trusted.
	BastionHostKeyFingerprint string `pulumi:"bastionHostKeyFingerprint"`
}

var (
	_ infer.CustomResource[GitLabReadyArgs, GitLabReadyState] = (*GitLabReady)(nil)
	_ infer.CustomCheck[GitLabReadyArgs]                      = (*GitLabReady)(nil)
	_ infer.CustomDiff[GitLabReadyArgs, GitLabReadyState]     = (*GitLabReady)(nil)
	_ infer.CustomUpdate[GitLabReadyArgs, GitLabReadyState]   = (*GitLabReady)(nil)
	_ infer.CustomRead[GitLabReadyArgs, GitLabReadyState]     = (*GitLabReady)(nil)
	_ infer.Annotated                                         = (*GitLabReady)(nil)
	_ infer.Annotated                                         = (*GitLabReadyArgs)(nil)
	_ infer.Annotated                                         = (*GitLabReadyState)(nil)
)

// Annotate gives the resource its token and description.
func (r *GitLabReady) Annotate(a infer.Annotator) {
	a.SetToken("index", "GitLabReady")
	a.Describe(r, "Waits, when created, until GitLab answers its readiness endpoint through the "+
		"Public Gateway's SSH bastion. A new targetHost, targetPort, scheme, path or instanceId replaces it, "+
		"which waits again; other changes are recorded without waiting.")
}

// Annotate documents the inputs and sets their defaults.
func (a *GitLabReadyArgs) Annotate(an infer.Annotator) {
	a.access().annotate(an)
	an.Describe(&a.Path, "The readiness path and query.")
	an.SetDefault(&a.Path, DefaultPath)
	an.Describe(&a.InstanceID, "GitLab's instance id: a replaced instance keeps its reserved address, so a new id means waiting again.")
	an.Describe(&a.Token, "A personal access token that must work (GET /api/v4/version) before GitLab counts as ready; its answer gives the version.")
}

// Annotate documents the outputs.
func (s *GitLabReadyState) Annotate(an infer.Annotator) {
	an.Describe(&s.ReadyAt, "When GitLab answered ready (RFC 3339, UTC).")
	an.Describe(&s.Version, "The GitLab version seen while waiting, empty if unknown.")
	an.Describe(&s.BastionHostKeyFingerprint, "The SHA256 fingerprint of the bastion host key that was trusted.")
}

// access points at the inputs GitLabReady shares with AgentConnected.
func (a *GitLabReadyArgs) access() access {
	return access{
		BastionHost: &a.BastionHost, BastionPort: &a.BastionPort, BastionUser: &a.BastionUser,
		PrivateKey: &a.PrivateKey, HostKeyFingerprint: &a.HostKeyFingerprint,
		TargetHost: &a.TargetHost, TargetPort: &a.TargetPort, Scheme: &a.Scheme, CaCert: &a.CaCert,
		Timeout: &a.Timeout, PollInterval: &a.PollInterval, DefaultTimeout: DefaultTimeout,
	}
}

// withDefaults fills the optional inputs that are empty.
func (a GitLabReadyArgs) withDefaults() GitLabReadyArgs {
	a.access().fillDefaults()
	setIfZero(&a.Path, DefaultPath)
	return a
}

// validate checks every input whose value f says is known.
func (a GitLabReadyArgs) validate(f *fieldErrors) {
	a.access().validate(f)
	if !strings.HasPrefix(a.Path, "/") {
		f.add("path", "%q must start with /", a.Path)
	}
}

// WaitConfig checks the inputs, fills the defaults and returns the wait they describe.
func (a GitLabReadyArgs) WaitConfig() (Config, error) {
	a, err := validInputs("GitLabReady", a)
	if err != nil {
		return Config{}, err
	}
	cfg, err := a.access().config(a.Path)
	if err != nil {
		return Config{}, err
	}
	cfg.Token = a.Token
	return cfg, nil
}

// Check applies the defaults and reports invalid inputs by key; values not yet
// known (during a preview) are checked later.
func (r *GitLabReady) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[GitLabReadyArgs], error) {
	return checkInputs[GitLabReadyArgs](ctx, req)
}

// Create waits until GitLab is ready. A preview (DryRun) dials nothing and
// leaves the outputs unknown.
func (r *GitLabReady) Create(ctx context.Context, req infer.CreateRequest[GitLabReadyArgs]) (infer.CreateResponse[GitLabReadyState], error) {
	args := req.Inputs.withDefaults()
	state := GitLabReadyState{GitLabReadyArgs: args}
	if req.DryRun {
		return infer.CreateResponse[GitLabReadyState]{Output: state}, nil
	}
	cfg, err := args.WaitConfig()
	if err != nil {
		return infer.CreateResponse[GitLabReadyState]{}, err
	}
	log := p.GetLogger(ctx)
	cfg.Progress = log.InfoStatus
	log.Infof("waiting for GitLab at %s through the bastion %s (timeout %s)", cfg.URL, cfg.BastionAddr, args.Timeout)
	res, err := r.opts.Waiter.Wait(ctx, cfg)
	if err != nil {
		return infer.CreateResponse[GitLabReadyState]{}, err
	}
	log.Infof("GitLab at %s is ready (attempts: %d)", cfg.URL, res.Attempts)
	state.ReadyAt = res.ReadyAt.UTC().Format(time.RFC3339)
	state.Version = res.Version
	state.BastionHostKeyFingerprint = res.HostKeyFingerprint
	return infer.CreateResponse[GitLabReadyState]{ID: resourceID(req.Name, args), Output: state}, nil
}

// resourceID names what was waited for; it is informative only.
func resourceID(name string, a GitLabReadyArgs) string {
	id := name + ":" + net.JoinHostPort(a.TargetHost, strconv.Itoa(a.TargetPort))
	if a.InstanceID != "" {
		id += ":" + a.InstanceID
	}
	return id
}

// replaceKeys are the inputs that say GitLab is another server: a change waits again.
var replaceKeys = []string{"targetHost", "targetPort", "scheme", "path", "instanceId"}

// Diff replaces the resource (and so waits again) when GitLab's address,
// instance or readiness URL changes; any other change is an update that waits for nothing.
func (r *GitLabReady) Diff(_ context.Context, req infer.DiffRequest[GitLabReadyArgs, GitLabReadyState]) (infer.DiffResponse, error) {
	return diffInputs(req.State.GitLabReadyArgs.withDefaults().inputMap(), req.Inputs.withDefaults().inputMap(), replaceKeys), nil
}

// inputMap flattens the inputs by key, for comparison.
func (a GitLabReadyArgs) inputMap() map[string]string {
	m := a.access().inputMap()
	m["path"] = a.Path
	m["instanceId"] = a.InstanceID
	m["token"] = a.Token
	return m
}

// Update records new inputs that do not change what is waited for (a new
// key, bastion, timeout...); it dials nothing and keeps what the wait saw.
func (r *GitLabReady) Update(_ context.Context, req infer.UpdateRequest[GitLabReadyArgs, GitLabReadyState]) (infer.UpdateResponse[GitLabReadyState], error) {
	state := req.State
	state.GitLabReadyArgs = req.Inputs.withDefaults()
	return infer.UpdateResponse[GitLabReadyState]{Output: state}, nil
}

// Read returns the recorded state; with GITLABWAIT_RECHECK=true (pulumi
// refresh) it asks GitLab once, and a GitLab that is not ready makes the
// resource disappear, so the next up waits again.
func (r *GitLabReady) Read(ctx context.Context, req infer.ReadRequest[GitLabReadyArgs, GitLabReadyState]) (infer.ReadResponse[GitLabReadyArgs, GitLabReadyState], error) {
	resp := infer.ReadResponse[GitLabReadyArgs, GitLabReadyState]{ID: req.ID, Inputs: req.Inputs, State: req.State}
	if !r.opts.Recheck(ctx) {
		return resp, nil
	}
	cfg, err := req.State.GitLabReadyArgs.WaitConfig()
	if err != nil {
		return resp, err
	}
	s, err := r.opts.Waiter.reopen(cfg, req.State.BastionHostKeyFingerprint)
	if err != nil {
		return resp, err
	}
	defer s.Close()
	var st Status
	ready, why, err := s.once(ctx, s.readiness(&st))
	switch {
	case err != nil:
		return resp, err
	case !ready:
		p.GetLogger(ctx).Warningf("GitLab at %s is not ready (%s): the next up waits for it again", cfg.URL, why)
		return infer.ReadResponse[GitLabReadyArgs, GitLabReadyState]{}, nil
	}
	if st.Version != "" {
		resp.State.Version = st.Version
	}
	if fp := s.HostKeyFingerprint(); fp != "" {
		resp.State.BastionHostKeyFingerprint = fp
	}
	return resp, nil
}

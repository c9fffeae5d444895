package provider

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"golang.org/x/crypto/ssh"
)

// Defaults of GitLabReady's optional inputs.
const (
	// DefaultBastionUser is the Scaleway bastion's login.
	DefaultBastionUser = "bastion"
	// DefaultTargetPort is GitLab's plain HTTP port.
	DefaultTargetPort = 80
	// DefaultScheme is plain HTTP.
	DefaultScheme = "http"
	// DefaultPath is the readiness endpoint with every dependency checked.
	DefaultPath = "/-/readiness?all=1"
	// DefaultTimeout covers a first Omnibus boot and reconfigure.
	DefaultTimeout = "30m"
	// DefaultPollInterval caps the pause between attempts.
	DefaultPollInterval = "15s"
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
	an.Describe(&a.BastionHost, "The Public Gateway's public address.")
	an.Describe(&a.BastionPort, "The SSH bastion's port (Scaleway's default is 61000).")
	an.Describe(&a.BastionUser, "The bastion's login.")
	an.SetDefault(&a.BastionUser, DefaultBastionUser)
	an.Describe(&a.PrivateKey, "The OpenSSH (or PKCS#8) PEM private key that the bastion trusts.")
	an.Describe(&a.HostKeyFingerprint, "Pins the bastion's host key (SHA256:...); unset trusts the first key seen.")
	an.Describe(&a.TargetHost, "GitLab's private address, as reached from the bastion.")
	an.Describe(&a.TargetPort, "GitLab's HTTP(S) port.")
	an.SetDefault(&a.TargetPort, DefaultTargetPort)
	an.Describe(&a.Scheme, "http or https.")
	an.SetDefault(&a.Scheme, DefaultScheme)
	an.Describe(&a.CaCert, "PEM CA that signs GitLab's certificate, for https.")
	an.Describe(&a.Path, "The readiness path and query.")
	an.SetDefault(&a.Path, DefaultPath)
	an.Describe(&a.Timeout, "The longest wait, as a Go duration.")
	an.SetDefault(&a.Timeout, DefaultTimeout)
	an.Describe(&a.PollInterval, "The cap of the pause between attempts, as a Go duration.")
	an.SetDefault(&a.PollInterval, DefaultPollInterval)
	an.Describe(&a.InstanceID, "GitLab's instance id: a replaced instance keeps its reserved address, so a new id means waiting again.")
	an.Describe(&a.Token, "A personal access token that must work (GET /api/v4/version) before GitLab counts as ready; its answer gives the version.")
}

// Annotate documents the outputs.
func (s *GitLabReadyState) Annotate(an infer.Annotator) {
	an.Describe(&s.ReadyAt, "When GitLab answered ready (RFC 3339, UTC).")
	an.Describe(&s.Version, "The GitLab version seen while waiting, empty if unknown.")
	an.Describe(&s.BastionHostKeyFingerprint, "The SHA256 fingerprint of the bastion host key that was trusted.")
}

// withDefaults fills the optional inputs that are empty.
func (a GitLabReadyArgs) withDefaults() GitLabReadyArgs {
	if a.BastionUser == "" {
		a.BastionUser = DefaultBastionUser
	}
	if a.TargetPort == 0 {
		a.TargetPort = DefaultTargetPort
	}
	if a.Scheme == "" {
		a.Scheme = DefaultScheme
	}
	if a.Path == "" {
		a.Path = DefaultPath
	}
	if a.Timeout == "" {
		a.Timeout = DefaultTimeout
	}
	if a.PollInterval == "" {
		a.PollInterval = DefaultPollInterval
	}
	return a
}

// fieldError is a problem with one input, named by its key.
type fieldError struct {
	key    string
	reason string
}

func (e fieldError) Error() string { return e.key + ": " + e.reason }

// validate checks every input whose value known(key) says is known.
func (a GitLabReadyArgs) validate(known func(key string) bool) []fieldError {
	var errs []fieldError
	bad := func(key, format string, args ...any) {
		if known(key) {
			errs = append(errs, fieldError{key, fmt.Sprintf(format, args...)})
		}
	}
	if a.BastionHost == "" {
		bad("bastionHost", "is empty: set it to the Public Gateway's public address")
	}
	if a.BastionPort < 1 || a.BastionPort > 65535 {
		bad("bastionPort", "%d is not a TCP port: set the bastion's port (Scaleway's default is 61000)", a.BastionPort)
	}
	if _, err := ssh.ParsePrivateKey([]byte(a.PrivateKey)); err != nil {
		// The key itself never goes into a message.
		bad("privateKey", "is not an unencrypted PEM private key (%s): pass the OpenSSH PEM of the automation key", keyErrorKind(err))
	}
	if _, err := NormalizeFingerprint(a.HostKeyFingerprint); err != nil {
		bad("hostKeyFingerprint", "%v", err)
	}
	if a.TargetHost == "" || strings.ContainsAny(a.TargetHost, "/ ") {
		bad("targetHost", "%q is not a host: set GitLab's private address", a.TargetHost)
	}
	if a.TargetPort < 1 || a.TargetPort > 65535 {
		bad("targetPort", "%d is not a TCP port", a.TargetPort)
	}
	if a.Scheme != "http" && a.Scheme != "https" {
		bad("scheme", "%q must be http or https", a.Scheme)
	}
	if a.CaCert != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(a.CaCert)) {
		bad("caCert", "holds no PEM certificate")
	}
	if !strings.HasPrefix(a.Path, "/") {
		bad("path", "%q must start with /", a.Path)
	}
	if d, err := time.ParseDuration(a.Timeout); err != nil || d <= 0 {
		bad("timeout", "%q is not a positive Go duration such as 30m", a.Timeout)
	}
	if d, err := time.ParseDuration(a.PollInterval); err != nil || d <= 0 {
		bad("pollInterval", "%q is not a positive Go duration such as 15s", a.PollInterval)
	}
	return errs
}

// keyErrorKind says what is wrong with a private key without quoting it.
func keyErrorKind(err error) string {
	if _, ok := err.(*ssh.PassphraseMissingError); ok {
		return "it is encrypted"
	}
	return "it does not parse"
}

// WaitConfig checks the inputs, fills the defaults and returns the wait they describe.
func (a GitLabReadyArgs) WaitConfig() (Config, error) {
	a = a.withDefaults()
	if errs := a.validate(func(string) bool { return true }); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return Config{}, fmt.Errorf("invalid GitLabReady inputs: %s", strings.Join(msgs, "; "))
	}
	signer, err := ssh.ParsePrivateKey([]byte(a.PrivateKey))
	if err != nil {
		return Config{}, fmt.Errorf("privateKey: %s", keyErrorKind(err))
	}
	pinned, _ := NormalizeFingerprint(a.HostKeyFingerprint)
	timeout, _ := time.ParseDuration(a.Timeout)
	poll, _ := time.ParseDuration(a.PollInterval)
	var roots *x509.CertPool
	if a.CaCert != "" {
		roots = x509.NewCertPool()
		roots.AppendCertsFromPEM([]byte(a.CaCert))
	}
	u := url.URL{Scheme: a.Scheme, Host: net.JoinHostPort(a.TargetHost, strconv.Itoa(a.TargetPort))}
	path, query, _ := strings.Cut(a.Path, "?")
	u.Path, u.RawQuery = path, query
	return Config{
		BastionAddr:        net.JoinHostPort(a.BastionHost, strconv.Itoa(a.BastionPort)),
		BastionUser:        a.BastionUser,
		Signer:             signer,
		HostKeyFingerprint: pinned,
		URL:                u.String(),
		RootCAs:            roots,
		Token:              a.Token,
		Timeout:            timeout,
		PollInterval:       poll,
	}, nil
}

// Check applies the defaults and reports invalid inputs by key; values not yet
// known (during a preview) are checked later.
func (r *GitLabReady) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[GitLabReadyArgs], error) {
	args, failures, err := infer.DefaultCheck[GitLabReadyArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[GitLabReadyArgs]{Inputs: args, Failures: failures}, err
	}
	args = args.withDefaults()
	known := func(key string) bool { return !req.NewInputs.Get(key).IsComputed() }
	for _, e := range args.validate(known) {
		failures = append(failures, p.CheckFailure{Property: e.key, Reason: e.reason})
	}
	return infer.CheckResponse[GitLabReadyArgs]{Inputs: args, Failures: failures}, nil
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
	olds := inputMap(req.State.GitLabReadyArgs.withDefaults())
	news := inputMap(req.Inputs.withDefaults())
	detailed := map[string]p.PropertyDiff{}
	for key, newValue := range news {
		if olds[key] == newValue {
			continue
		}
		kind := p.Update
		for _, rk := range replaceKeys {
			if key == rk {
				kind = p.UpdateReplace
			}
		}
		detailed[key] = p.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return infer.DiffResponse{HasChanges: len(detailed) > 0, DetailedDiff: detailed}, nil
}

// inputMap flattens the inputs by key, for comparison.
func inputMap(a GitLabReadyArgs) map[string]string {
	return map[string]string{
		"bastionHost":        a.BastionHost,
		"bastionPort":        strconv.Itoa(a.BastionPort),
		"bastionUser":        a.BastionUser,
		"privateKey":         a.PrivateKey,
		"hostKeyFingerprint": a.HostKeyFingerprint,
		"targetHost":         a.TargetHost,
		"targetPort":         strconv.Itoa(a.TargetPort),
		"scheme":             a.Scheme,
		"caCert":             a.CaCert,
		"path":               a.Path,
		"timeout":            a.Timeout,
		"pollInterval":       a.PollInterval,
		"instanceId":         a.InstanceID,
		"token":              a.Token,
	}
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
	if cfg.HostKeyFingerprint == "" {
		// Trust on first use means the key trusted by the wait, not a new one.
		cfg.HostKeyFingerprint = req.State.BastionHostKeyFingerprint
	}
	s, err := r.opts.Waiter.Open(cfg)
	if err != nil {
		return resp, err
	}
	defer s.Close()
	pctx, cancel := context.WithTimeout(ctx, r.opts.Waiter.attemptTimeout())
	defer cancel()
	st, err := s.Poll(pctx)
	switch {
	case IsPermanent(err):
		return resp, err
	case err != nil || !st.Ready:
		why := st.Detail
		if err != nil {
			why = err.Error()
		}
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

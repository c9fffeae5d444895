package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"
)

// Defaults of GitLabReady's own optional inputs (the shared ones are in access.go).
const (
	// DefaultPath is the readiness endpoint with every dependency checked.
	DefaultPath = "/-/readiness?all=1"
	// DefaultTimeout covers a first Omnibus boot and reconfigure.
	DefaultTimeout = "30m"
)

// ErrNotReady is matched (errors.Is) by the error of a GitLabReady wait that
// ran out of time.
var ErrNotReady = errors.New("gitlab not ready")

// GitLabReady is the resource that, on create, waits until GitLab answers its
// readiness endpoint through the Public Gateway's SSH bastion. Its Check,
// Create, Diff, Update and Read are lifecycle's.
type GitLabReady struct {
	lifecycle[GitLabReadyArgs, Status, GitLabReadyState, *GitLabReadyState]
}

// GitLabReadyArgs are GitLabReady's inputs.
type GitLabReadyArgs struct {
	Access
	// Path is the readiness path and query.
	Path string `pulumi:"path,optional" diff:"replace"`
	// InstanceID is GitLab's instance id; a new one means waiting again.
	InstanceID string `pulumi:"instanceId,optional" diff:"replace"`
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
	Trusted
}

// Annotate gives the resource its token and description.
func (r *GitLabReady) Annotate(a infer.Annotator) {
	annotateResource(a, r, "GitLabReady", "Waits, when created, until GitLab answers its readiness endpoint through the "+
		"Public Gateway's SSH bastion. "+replacedBy(replaceKeys[GitLabReadyArgs]())+"; other changes are recorded without waiting.")
}

// Annotate documents GitLabReady's own inputs and sets their defaults.
func (a *GitLabReadyArgs) Annotate(an infer.Annotator) {
	an.SetDefault(&a.Timeout, DefaultTimeout)
	describeDefault(an, &a.Path, "The readiness path and query.", DefaultPath)
	an.Describe(&a.InstanceID, "GitLab's instance id: a replaced instance keeps its reserved address, so a new id means waiting again.")
	an.Describe(&a.Token, "A personal access token that must work (GET /api/v4/version) before GitLab counts as ready; its answer gives the version.")
}

// Annotate documents the outputs.
func (s *GitLabReadyState) Annotate(an infer.Annotator) {
	an.Describe(&s.ReadyAt, "When GitLab answered ready (RFC 3339, UTC).")
	an.Describe(&s.Version, "The GitLab version seen while waiting, empty if unknown.")
}

// withDefaults fills the optional inputs that are empty.
func (a GitLabReadyArgs) withDefaults() GitLabReadyArgs {
	a.Access = a.Access.withDefaults(DefaultTimeout)
	setIfZero(&a.Path, DefaultPath)
	return a
}

// validate checks every input whose value f says is known.
func (a GitLabReadyArgs) validate(f *fieldErrors) {
	a.Access.validate(f)
	if !strings.HasPrefix(a.Path, "/") {
		f.add("path", "%q must start with /", a.Path)
	}
}

// id is the resource's name, GitLab's address and instance.
func (a GitLabReadyArgs) id(name string) string {
	id := name + ":" + net.JoinHostPort(a.TargetHost, strconv.Itoa(a.TargetPort))
	if a.InstanceID != "" {
		id += ":" + a.InstanceID
	}
	return id
}

// WaitConfig checks the inputs, fills the defaults and returns the wait they describe.
func (a GitLabReadyArgs) WaitConfig() (Config, error) {
	w, err := a.plan()
	return w.cfg, err
}

func (a GitLabReadyArgs) plan() (plan[Status], error) {
	a, err := validInputs("GitLabReady", a)
	if err != nil {
		return plan[Status]{}, err
	}
	cfg, err := a.config(a.Path, a.Token)
	if err != nil {
		return plan[Status]{}, err
	}
	subject := "GitLab at " + cfg.URL
	return plan[Status]{cfg: cfg, poller: (*Session).readiness, subject: subject, waiting: subject, done: "ready"}, nil
}

func (s *GitLabReadyState) args() *GitLabReadyArgs { return &s.GitLabReadyArgs }

func (s *GitLabReadyState) saw(res Result[Status]) {
	s.ReadyAt = res.At.UTC().Format(time.RFC3339)
	s.Version = res.Status.Version
}

// refreshed keeps what the refresh did not see: an answer without a version.
func (s *GitLabReadyState) refreshed(res Result[Status]) {
	if res.Status.Version != "" {
		s.Version = res.Status.Version
	}
	if res.HostKeyFingerprint != "" {
		s.BastionHostKeyFingerprint = res.HostKeyFingerprint
	}
}

// Status is the outcome of one readiness request that got an HTTP answer.
type Status struct {
	// Ready is true for HTTP 200 with a JSON body whose status is "ok".
	Ready bool
	// Detail says why GitLab is not ready, e.g. "HTTP 502".
	Detail string
	// Version is the GitLab version, when the answer carries one.
	Version string
}

func (st Status) verdict() (bool, string) { return st.Ready, st.Detail }

// summary is empty: the log line of a ready GitLab says all there is.
func (Status) summary() string { return "" }

// Wait polls until GitLab is ready, the timeout passes, a permanent error
// happens or ctx ends, whichever comes first.
func (s *Session) Wait(ctx context.Context) (Result[Status], error) {
	return waitFor(ctx, s, s.readiness())
}

// Wait opens a session, waits until GitLab is ready and closes the session.
func (w *Waiter) Wait(ctx context.Context, cfg Config) (Result[Status], error) {
	s, err := w.Open(cfg)
	if err != nil {
		return Result[Status]{}, err
	}
	defer s.Close()
	return s.Wait(ctx)
}

// readiness is GitLabReady's poller: one Poll an attempt.
func (s *Session) readiness() poller[Status] {
	return poller[Status]{
		progress: "GitLab at " + s.host,
		stopped:  "GitLab at " + s.host,
		ask:      s.Poll,
		timedOut: TimeoutError{
			Kind: ErrNotReady,
			What: "was not ready",
			Hint: "look at the instance's first boot (cloud-init and gitlab-ctl status)",
		},
	}
}

// Poll makes one readiness request, then, when a token is set, one request
// that proves the token works. An error means there was no HTTP answer;
// IsPermanent tells whether retrying can help.
func (s *Session) Poll(ctx context.Context) (Status, error) {
	code, body, err := s.request(ctx, http.MethodGet, s.cfg.URL, nil, credential{})
	if err != nil {
		return Status{}, err
	}
	st := ParseReadiness(code, body)
	if !st.Ready || s.cfg.Token == "" {
		return st, nil
	}
	code, body, err = s.request(ctx, http.MethodGet, versionURL(s.cfg.URL), nil, credential{"PRIVATE-TOKEN", s.cfg.Token})
	if err != nil {
		return Status{}, err
	}
	return ParseVersion(code, body), nil
}

// versionURL is the API version endpoint on the readiness URL's host.
func versionURL(readiness string) string {
	u, err := url.Parse(readiness)
	if err != nil {
		return readiness
	}
	u.Path, u.RawQuery = "/api/v4/version", ""
	return u.String()
}

// ParseVersion judges GitLab's answer to GET /api/v4/version with the token:
// 200 means the token works and gives the version; 401 means the first boot
// has not installed the token yet.
func ParseVersion(code int, body []byte) Status {
	var doc struct {
		Version string `json:"version"`
	}
	switch {
	case code == http.StatusOK && json.Unmarshal(body, &doc) == nil && doc.Version != "":
		return Status{Ready: true, Version: doc.Version}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Status{Detail: fmt.Sprintf("ready, but the API answers HTTP %d to the automation token: "+
			"the first boot has not installed it yet (gitlab-rails runner)", code)}
	default:
		return Status{Detail: fmt.Sprintf("ready, but /api/v4/version answers HTTP %d", code)}
	}
}

// ParseReadiness judges one answer of GitLab's readiness endpoint: ready means
// HTTP 200 and a JSON object whose "status" is "ok".
func ParseReadiness(code int, body []byte) Status {
	var doc struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}
	jsonErr := json.Unmarshal(body, &doc)
	switch {
	case code == http.StatusOK && jsonErr == nil && doc.Status == "ok":
		return Status{Ready: true, Version: doc.Version}
	case code == http.StatusOK && jsonErr != nil:
		return Status{Detail: "HTTP 200 without a JSON body (is this GitLab's readiness path?)"}
	case code == http.StatusOK:
		return Status{Detail: fmt.Sprintf("HTTP 200, status %q%s", doc.Status, failingChecks(body))}
	case code == http.StatusNotFound:
		return Status{Detail: "HTTP 404 (GitLab hides its health endpoints from addresses outside " +
			"gitlab_rails['monitoring_whitelist']: it must include the Public Gateway's private address or the private network's CIDR)"}
	case jsonErr == nil && doc.Status != "":
		return Status{Detail: fmt.Sprintf("HTTP %d, status %q%s", code, doc.Status, failingChecks(body))}
	default:
		return Status{Detail: fmt.Sprintf("HTTP %d", code)}
	}
}

// failingChecks lists the checks of a readiness body whose status is not ok,
// as ", failing: db_check, redis_check", or "".
func failingChecks(body []byte) string {
	var checks map[string]json.RawMessage
	if json.Unmarshal(body, &checks) != nil {
		return ""
	}
	var failing []string
	for name, raw := range checks {
		var results []struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(raw, &results) != nil {
			continue
		}
		for _, r := range results {
			if r.Status != "ok" {
				failing = append(failing, name)
				break
			}
		}
	}
	if len(failing) == 0 {
		return ""
	}
	sort.Strings(failing)
	return ", failing: " + strings.Join(failing, ", ")
}

package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrNotReady is matched (errors.Is) by the error of a wait that ran out of time.
var ErrNotReady = errors.New("gitlab not ready")

// Default tuning of a wait.
const (
	// DefaultInitialDelay is the first pause between attempts.
	DefaultInitialDelay = time.Second
	// DefaultAttemptTimeout bounds one attempt: SSH connect, channel open and HTTP exchange.
	DefaultAttemptTimeout = 10 * time.Second
	// DefaultJitter is the largest fraction of a pause removed at random.
	DefaultJitter = 0.2
	// maxBody bounds how much of an answer is read.
	maxBody = 64 << 10
)

// Backoff is a capped exponential backoff with jitter: the pause after the
// n-th failed attempt is Initial·2ⁿ⁻¹, at most Max, less a random fraction of
// at most Jitter, so it never exceeds Max.
type Backoff struct {
	// Initial is the first pause; never more than Max.
	Initial time.Duration
	// Max caps every pause (the pollInterval input).
	Max time.Duration
	// Jitter is the largest fraction of a pause removed at random, in [0, 1].
	Jitter float64
	// Rand returns numbers in [0, 1); nil uses math/rand/v2.
	Rand func() float64
}

// Delay is the pause after the attempt-th failed attempt (attempt ≥ 1).
func (b Backoff) Delay(attempt int) time.Duration {
	d := min(b.Initial, b.Max)
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if b.Jitter > 0 {
		r := rand.Float64
		if b.Rand != nil {
			r = b.Rand
		}
		d -= time.Duration(float64(d) * min(b.Jitter, 1) * r())
	}
	return max(d, 0)
}

// Clock is a wait's source of time; tests give a fake one.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// Sleep pauses for d, or returns ctx.Err() as soon as ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Waiter polls GitLab's readiness endpoint through the bastion. The zero
// value is what the plugin uses; tests replace the dialer, clock and timings.
type Waiter struct {
	// DialSSH opens the SSH connection to the bastion; nil uses DialSSH.
	DialSSH DialSSHFunc
	// Clock measures the wait and sleeps between attempts; nil uses the wall clock.
	Clock Clock
	// Rand feeds the jitter; nil uses math/rand/v2.
	Rand func() float64
	// InitialDelay is the first pause; zero uses DefaultInitialDelay.
	InitialDelay time.Duration
	// AttemptTimeout bounds each attempt; zero uses DefaultAttemptTimeout.
	AttemptTimeout time.Duration
}

// Config says where GitLab is, how to reach it and how long to wait.
type Config struct {
	// BastionAddr is the bastion's "host:port".
	BastionAddr string
	// BastionUser is the bastion's login.
	BastionUser string
	// Signer is the SSH key the bastion trusts.
	Signer ssh.Signer
	// HostKeyFingerprint pins the bastion's host key ("SHA256:..."); empty trusts on first use.
	HostKeyFingerprint string
	// URL is the readiness URL as seen from the bastion, e.g. http://10.0.0.10:80/-/readiness?all=1.
	URL string
	// RootCAs verifies GitLab's certificate for https; nil uses the system's roots.
	RootCAs *x509.CertPool
	// Token, when set, is a personal access token that must work too: after
	// readiness, GET /api/v4/version with it must answer 200. GitLab answers
	// ready before its first boot has installed the token, and whatever runs
	// next (the GitLab provider) needs the token, not just a live GitLab.
	Token string
	// Timeout is the longest wait.
	Timeout time.Duration
	// PollInterval caps the pause between attempts.
	PollInterval time.Duration
	// Progress receives one line per failed attempt; nil discards them.
	Progress func(msg string)
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

// Result describes a successful wait.
type Result struct {
	// ReadyAt is when GitLab answered ready.
	ReadyAt time.Time
	// Version is the GitLab version seen, or "".
	Version string
	// HostKeyFingerprint is the bastion host key fingerprint that was trusted.
	HostKeyFingerprint string
	// Attempts is the number of readiness requests made.
	Attempts int
	// Connections is the number of SSH connections opened to the bastion.
	Connections int
}

// Session is one wait's SSH connection and HTTP client. Close it when done.
type Session struct {
	w       *Waiter
	cfg     Config
	host    string
	bastion *bastion
	client  *http.Client
}

// Open prepares a session; it dials nothing until the first Poll.
func (w *Waiter) Open(cfg Config) (*Session, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("readiness url %q must be http:// or https:// with a host", cfg.URL)
	}
	if cfg.Signer == nil {
		return nil, errors.New("no ssh key for the bastion: set privateKey")
	}
	if cfg.Timeout <= 0 || cfg.PollInterval <= 0 {
		return nil, errors.New("timeout and pollInterval must be positive durations")
	}
	dial := w.DialSSH
	if dial == nil {
		dial = DialSSH
	}
	b := newBastion(cfg.BastionAddr, cfg.BastionUser, cfg.Signer, cfg.HostKeyFingerprint, dial)
	transport := &http.Transport{
		// Never an environment proxy: every byte goes through the bastion.
		Proxy:                 nil,
		DialContext:           b.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   w.attemptTimeout(),
		ResponseHeaderTimeout: w.attemptTimeout(),
		MaxIdleConns:          1,
		IdleConnTimeout:       30 * time.Second,
	}
	return &Session{
		w:       w,
		cfg:     cfg,
		host:    u.Host,
		bastion: b,
		client:  &http.Client{Transport: transport, CheckRedirect: noRedirects},
	}, nil
}

// noRedirects keeps the redirect answer itself: a redirect is "not ready".
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Close ends the session's SSH connection.
func (s *Session) Close() error {
	s.client.CloseIdleConnections()
	return s.bastion.Close()
}

// Connections is the number of SSH connections the session has opened.
func (s *Session) Connections() int { return s.bastion.connections() }

// HostKeyFingerprint is the bastion host key trusted so far, or "".
func (s *Session) HostKeyFingerprint() string { return s.bastion.hostKeys.fingerprint() }

// Poll makes one readiness request, then, when a token is set, one request
// that proves the token works. An error means there was no HTTP answer;
// IsPermanent tells whether retrying can help.
func (s *Session) Poll(ctx context.Context) (Status, error) {
	code, body, err := s.get(ctx, s.cfg.URL, "")
	if err != nil {
		return Status{}, err
	}
	st := ParseReadiness(code, body)
	if !st.Ready || s.cfg.Token == "" {
		return st, nil
	}
	code, body, err = s.get(ctx, versionURL(s.cfg.URL), s.cfg.Token)
	if err != nil {
		return Status{}, err
	}
	return ParseVersion(code, body), nil
}

// get makes one GET request through the bastion and reads a bounded body.
func (s *Session) get(ctx context.Context, target, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, permanent(fmt.Errorf("request %s: %w", target, err))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "pulumi-resource-gitlabwait/"+Version)
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, s.classify(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("reading GitLab's answer: %w", err)
	}
	return resp.StatusCode, body, nil
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

// classify unwraps the HTTP client's error and marks certificate errors permanent.
func (s *Session) classify(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verifyFail *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verifyFail) {
		return permanent(fmt.Errorf("GitLab's certificate at %s is not trusted (%v): "+
			"set caCert to the CA that signed it, with %s among the certificate's names", s.host, err, hostOnly(s.host)))
	}
	return err
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// Wait polls until GitLab is ready, the timeout passes, a permanent error
// happens or ctx ends, whichever comes first.
func (s *Session) Wait(ctx context.Context) (Result, error) {
	var st Status
	attempts, err := s.waitFor(ctx, s.readiness(&st))
	if err != nil {
		return Result{}, err
	}
	return Result{
		ReadyAt:            s.w.clock().Now(),
		Version:            st.Version,
		HostKeyFingerprint: s.HostKeyFingerprint(),
		Attempts:           attempts,
		Connections:        s.Connections(),
	}, nil
}

// readiness is GitLabReady's poller: one Poll an attempt, its answer kept in st.
func (s *Session) readiness(st *Status) poller {
	return poller{
		progress: "GitLab at " + s.host,
		stopped:  "GitLab at " + s.host,
		attempt: func(ctx context.Context) (bool, string, error) {
			var err error
			*st, err = s.Poll(ctx)
			return st.Ready, st.Detail, err
		},
		timedOut: func(attempts int, last string) error {
			return &NotReadyError{Host: s.host, Timeout: s.cfg.Timeout, Attempts: attempts, Last: last}
		},
	}
}

// Wait opens a session, waits until GitLab is ready and closes the session.
func (w *Waiter) Wait(ctx context.Context, cfg Config) (Result, error) {
	s, err := w.Open(cfg)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	return s.Wait(ctx)
}

func (w *Waiter) clock() Clock {
	if w.Clock == nil {
		return wallClock{}
	}
	return w.Clock
}

func (w *Waiter) initialDelay() time.Duration {
	if w.InitialDelay <= 0 {
		return DefaultInitialDelay
	}
	return w.InitialDelay
}

func (w *Waiter) attemptTimeout() time.Duration {
	if w.AttemptTimeout <= 0 {
		return DefaultAttemptTimeout
	}
	return w.AttemptTimeout
}

// NotReadyError ends a wait that ran out of time; it carries the last reason.
type NotReadyError struct {
	// Host is GitLab's "host:port".
	Host string
	// Timeout is how long the wait lasted.
	Timeout time.Duration
	// Attempts is the number of readiness requests made.
	Attempts int
	// Last is why the last attempt was not ready.
	Last string
}

// Error says what was seen last and what to look at.
func (e *NotReadyError) Error() string {
	return fmt.Sprintf("GitLab at %s was not ready after %s (%d attempts), last: %s: "+
		"look at the instance's first boot (cloud-init and gitlab-ctl status), or raise timeout",
		e.Host, e.Timeout, e.Attempts, e.Last)
}

// Is makes errors.Is(err, ErrNotReady) true.
func (e *NotReadyError) Is(target error) bool { return target == ErrNotReady }

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

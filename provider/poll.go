package provider

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/crypto/ssh"
)

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
	// userAgent names the plugin in GitLab's logs.
	userAgent = "pulumi-resource-gitlabwait/" + Version
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

// Waiter polls GitLab through the bastion. The zero value is what the
// plugin uses; tests replace the dialer, clock and timings.
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
	// URL is what a wait asks, as seen from the bastion, e.g. http://10.0.0.10:80/-/readiness?all=1.
	URL string
	// RootCAs verifies GitLab's certificate for https; nil uses the system's roots.
	RootCAs *x509.CertPool
	// Token is a personal access token. For GitLabReady it is optional and
	// must work too: after readiness, GET /api/v4/version with it must answer
	// 200. GitLab answers ready before its first boot has installed the token,
	// and whatever runs next (the GitLab provider) needs the token, not just a
	// live GitLab. AgentConnected asks GraphQL with it.
	Token string
	// Timeout is the longest wait.
	Timeout time.Duration
	// PollInterval caps the pause between attempts.
	PollInterval time.Duration
	// Progress receives one line per failed attempt; nil discards them.
	Progress func(msg string)
}

// Session is one wait's SSH connection and HTTP client. Close it when done.
type Session struct {
	w       *Waiter
	cfg     Config
	host    string
	bastion *bastion
	client  *http.Client
}

// Open prepares a session; it dials nothing until the first request.
func (w *Waiter) Open(cfg Config) (*Session, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("GitLab url %q must be http:// or https:// with a host", cfg.URL)
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
func (s *Session) Connections() int { return s.bastion.Connections() }

// HostKeyFingerprint is the bastion host key trusted so far, or "".
func (s *Session) HostKeyFingerprint() string { return s.bastion.HostKeyFingerprint() }

// credential is how a request carries the token: GitLab's REST API reads
// PRIVATE-TOKEN, its GraphQL API a bearer token. The zero value sends none.
type credential struct{ header, value string }

// request makes one request through the bastion, with body as JSON when
// there is one, and reads a bounded answer. An error means there was no HTTP
// answer; IsPermanent tells whether retrying can help.
func (s *Session) request(ctx context.Context, method, target string, body []byte, auth credential) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, permanent(fmt.Errorf("request %s: %w", target, err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if auth.header != "" {
		req.Header.Set(auth.header, auth.value)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, s.classify(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("reading GitLab's answer: %w", err)
	}
	return resp.StatusCode, answer, nil
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

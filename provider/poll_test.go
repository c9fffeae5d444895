package provider

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	noJitter := Backoff{Initial: time.Second, Max: 15 * time.Second}
	want := []time.Duration{1, 2, 4, 8, 15, 15, 15}
	for i, w := range want {
		assert.Equal(t, w*time.Second, noJitter.Delay(i+1), "attempt %d", i+1)
	}
	assert.Equal(t, 15*time.Second, noJitter.Delay(1000), "no overflow on long waits")

	small := Backoff{Initial: time.Second, Max: 200 * time.Millisecond}
	assert.Equal(t, 200*time.Millisecond, small.Delay(1), "the first pause never exceeds the cap")
}

func TestBackoffJitterStaysBelowCap(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{0, 0.5, 0.999999} {
		b := Backoff{Initial: time.Second, Max: 15 * time.Second, Jitter: 0.2, Rand: func() float64 { return r }}
		for attempt := 1; attempt < 20; attempt++ {
			plain := Backoff{Initial: time.Second, Max: 15 * time.Second}.Delay(attempt)
			d := b.Delay(attempt)
			assert.LessOrEqual(t, d, plain, "r=%v attempt %d", r, attempt)
			assert.GreaterOrEqual(t, d, time.Duration(float64(plain)*0.8)-1, "r=%v attempt %d", r, attempt)
		}
	}
	// The default source: every value within bounds.
	b := Backoff{Initial: time.Second, Max: 15 * time.Second, Jitter: 0.2}
	for range 1000 {
		d := b.Delay(10)
		assert.True(t, d > 11*time.Second && d <= 15*time.Second, "%s", d)
	}
}

func TestParseReadiness(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		code    int
		body    string
		ready   bool
		detail  string
		version string
	}{
		{"ok", 200, `{"status":"ok","master_check":[{"status":"ok"}]}`, true, "", ""},
		{"ok with version", 200, `{"status":"ok","version":"17.5.1"}`, true, "", "17.5.1"},
		{"bad gateway", 502, `<html>502 Bad Gateway</html>`, false, "HTTP 502", ""},
		{"whitelist", 404, ``, false, "HTTP 404 (GitLab hides", ""},
		{"failed checks", 503, `{"status":"failed","master_check":[{"status":"failed","message":"x"}],"db_check":[{"status":"ok"}],"redis_check":[{"status":"failed"}]}`, false, `HTTP 503, status "failed", failing: master_check, redis_check`, ""},
		{"200 not json", 200, `GitLab OK`, false, "HTTP 200 without a JSON body", ""},
		{"200 not ok", 200, `{"status":"failed","db_check":[{"status":"failed"}]}`, false, `HTTP 200, status "failed", failing: db_check`, ""},
		{"redirect", 302, ``, false, "HTTP 302", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := ParseReadiness(tt.code, []byte(tt.body))
			assert.Equal(t, tt.ready, st.Ready)
			assert.True(t, strings.HasPrefix(st.Detail, tt.detail), "detail %q, want prefix %q", st.Detail, tt.detail)
			assert.Equal(t, tt.version, st.Version)
		})
	}
}

// testConfig is a wait against gitlab through the fake bastion.
func testConfig(t *testing.T, host string, port int, key string) Config {
	t.Helper()
	cfg, err := GitLabReadyArgs{Access: Access{
		BastionHost: "bastion.invalid", BastionPort: 61000, PrivateKey: key,
		TargetHost: host, TargetPort: port, Timeout: "30m", PollInterval: "15s",
	}}.WaitConfig()
	require.NoError(t, err)
	return cfg
}

func TestWaitBecomesReady(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	host, port := startGitLab(t, &schedule{codes: []int{502, 502, 404, 200}})
	clock := newFakeClock()
	var progress []string
	cfg := testConfig(t, host, port, key)
	cfg.Progress = func(msg string) { progress = append(progress, msg) }

	res, err := (&Waiter{DialSSH: fb.Dial, Clock: clock}).Wait(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 4, res.Attempts)
	assert.Equal(t, 1, res.Connections, "one SSH connection for the whole wait")
	assert.EqualValues(t, 1, fb.dials.Load())
	assert.True(t, strings.HasPrefix(res.HostKeyFingerprint, "SHA256:"))
	require.Len(t, progress, 3)
	assert.Contains(t, progress[0], "waiting for GitLab at "+host)
	assert.Contains(t, progress[0], "(attempt 1, last: HTTP 502)")
	assert.Contains(t, progress[2], "attempt 3, last: HTTP 404")
}

func TestWaitTimesOutWithLastError(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	host, port := startGitLab(t, &schedule{codes: []int{502}})
	clock := newFakeClock()
	start := clock.Now()

	_, err := (&Waiter{DialSSH: fb.Dial, Clock: clock}).Wait(context.Background(), testConfig(t, host, port, key))
	require.ErrorIs(t, err, ErrNotReady)
	require.ErrorContains(t, err, "not ready after 30m0s")
	require.ErrorContains(t, err, "last: HTTP 502")
	assert.Equal(t, 30*time.Minute, clock.Now().Sub(start), "the wait ends at the timeout, not later")
	var nre *TimeoutError
	require.True(t, errors.As(err, &nre))
	// 1+2+4+8 s, then 15 s pauses: about 120 attempts in 30 minutes.
	assert.InDelta(t, 121, nre.Attempts, 25)
	assert.EqualValues(t, 1, fb.dials.Load())
}

func TestWaitRefusedTargetIsNotYet(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	host, port := startGitLab(t, http.NotFoundHandler())
	cfg := testConfig(t, host, port, key)
	cfg.URL = strings.Replace(cfg.URL, host, "127.0.0.1", 1)
	cfg.URL = strings.Replace(cfg.URL, ":"+strconv.Itoa(port), ":1", 1) // nothing listens on port 1
	cfg.Timeout = time.Minute

	_, err := (&Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}).Wait(context.Background(), cfg)
	require.ErrorIs(t, err, ErrNotReady)
	require.ErrorContains(t, err, "the bastion at bastion.invalid:61000 could not connect to 127.0.0.1:1: Connection refused")
}

func TestWaitWrongKeyFailsAtOnce(t *testing.T) {
	t.Parallel()
	key, _ := newKeyPEM(t)
	_, other := newKeyPEM(t)
	fb := newFakeBastion(t, other)
	host, port := startGitLab(t, &schedule{codes: []int{200}})

	_, err := (&Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}).Wait(context.Background(), testConfig(t, host, port, key))
	require.ErrorIs(t, err, sshbastion.ErrKeyRefused)
	require.ErrorContains(t, err, `refused the SSH key for user "bastion"`)
	assert.True(t, IsPermanent(err))
	assert.EqualValues(t, 1, fb.dials.Load(), "no retry after an authentication failure")
}

func TestWaitPinnedHostKeyMismatch(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	host, port := startGitLab(t, &schedule{codes: []int{200}})
	cfg := testConfig(t, host, port, key)
	cfg.HostKeyFingerprint = "SHA256:" + strings.Repeat("A", 43)

	_, err := (&Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}).Wait(context.Background(), cfg)
	require.ErrorIs(t, err, sshbastion.ErrHostKeyMismatch)
	require.ErrorContains(t, err, "set hostKeyFingerprint to its new key")
	assert.EqualValues(t, 1, fb.dials.Load())
}

func TestWaitBastionDownIsNotYet(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	fb.dialErr = errors.New("dial tcp: connection refused")
	cfg := testConfig(t, "10.0.0.10", 80, key)
	cfg.Timeout = 10 * time.Second

	_, err := (&Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}).Wait(context.Background(), cfg)
	require.ErrorIs(t, err, ErrNotReady)
	require.ErrorContains(t, err, "last: bastion bastion.invalid:61000: dial tcp: connection refused")
	assert.Greater(t, fb.dials.Load(), int32(1), "a bastion that is not up yet is retried")
}

func TestWaitCanceled(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	host, port := startGitLab(t, &schedule{codes: []int{502}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&Waiter{DialSSH: fb.Dial}).Wait(ctx, testConfig(t, host, port, key))
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "stopped waiting for GitLab")
}

// tokenGitLab is ready at once but accepts the token only from its third
// version request on, as GitLab does while the first boot runs gitlab-rails runner.
type tokenGitLab struct {
	token    string
	versions atomic.Int32
}

func (g *tokenGitLab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/-/readiness":
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	case "/api/v4/version":
		if g.versions.Add(1) < 3 || r.Header.Get("PRIVATE-TOKEN") != g.token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"401 Unauthorized"}`)
			return
		}
		_, _ = io.WriteString(w, `{"version":"18.5.1","revision":"abc"}`)
	default:
		http.NotFound(w, r)
	}
}

func TestWaitWithTokenWaitsUntilTheTokenWorks(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	gitlab := &tokenGitLab{token: "glk-automation-token"}
	host, port := startGitLab(t, gitlab)
	var progress []string
	cfg := testConfig(t, host, port, key)
	cfg.Token = gitlab.token
	cfg.Progress = func(msg string) { progress = append(progress, msg) }

	res, err := (&Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}).Wait(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 3, res.Attempts)
	assert.Equal(t, "18.5.1", res.Status.Version, "the version comes from the API")
	require.Len(t, progress, 2)
	assert.Contains(t, progress[0], "HTTP 401 to the automation token")
	for _, p := range progress {
		assert.NotContains(t, p, gitlab.token, "progress never shows the token")
	}
}

func TestWaitWithAWrongTokenNeverBecomesReady(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	host, port := startGitLab(t, &tokenGitLab{token: "right"})
	cfg := testConfig(t, host, port, key)
	cfg.Token = "wrong"
	cfg.Timeout = time.Minute
	_, err := (&Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}).Wait(context.Background(), cfg)
	require.ErrorIs(t, err, ErrNotReady)
	require.ErrorContains(t, err, "automation token")
	assert.NotContains(t, err.Error(), "wrong")
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	assert.Equal(t, Status{Ready: true, Version: "18.5.1"}, ParseVersion(200, []byte(`{"version":"18.5.1"}`)))
	assert.False(t, ParseVersion(200, []byte(`<html>`)).Ready)
	assert.Contains(t, ParseVersion(401, nil).Detail, "not installed it yet")
	assert.Contains(t, ParseVersion(500, nil).Detail, "HTTP 500")
	assert.Equal(t, "https://10.0.0.10:443/api/v4/version", versionURL("https://10.0.0.10:443/-/readiness?all=1"))
}

package bastion

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// Margins are generous on purpose: the machine is shared and the assertions
// are about behaviour (gives up, stops), not speed.

func TestBecomesReady(t *testing.T) {
	t.Parallel()
	b := harness.StartBastion(t)
	g := startGitLab(t, 502, 502, 404, 200)
	var progress []string
	cfg := config(t, args(b, g))
	cfg.Progress = func(msg string) { progress = append(progress, msg) }

	res, err := fastWaiter().Wait(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 4, res.Attempts)
	assert.Equal(t, b.HostKeyFingerprint(), res.HostKeyFingerprint, "trust on first use records the bastion's key")
	assert.WithinDuration(t, time.Now(), res.At, time.Minute)
	assert.EqualValues(t, 1, b.Connections(), "one TCP connection to the bastion for the whole wait")
	assert.Equal(t, 1, res.Connections)
	require.Len(t, progress, 3)
	assert.Equal(t, "waiting for GitLab at "+g.host+":"+strconv.Itoa(g.port)+" (attempt 1, last: HTTP 502)", progress[0])
	assert.Contains(t, progress[2], "last: HTTP 404 (GitLab hides its health endpoints")
}

func TestPinnedHostKey(t *testing.T) {
	t.Parallel()
	b := harness.StartBastion(t)
	g := startGitLab(t, 200)
	a := args(b, g)
	a.HostKeyFingerprint = b.HostKeyFingerprint()
	res, err := fastWaiter().Wait(t.Context(), config(t, a))
	require.NoError(t, err)
	assert.Equal(t, b.HostKeyFingerprint(), res.HostKeyFingerprint)

	b.RotateBastionHostKey(t)
	b.Restart(t)
	start := time.Now()
	_, err = fastWaiter().Wait(t.Context(), config(t, a))
	require.ErrorIs(t, err, sshbastion.ErrHostKeyMismatch)
	require.ErrorContains(t, err, "not the pinned "+a.HostKeyFingerprint)
	assert.Less(t, time.Since(start), 10*time.Second, "a mismatch fails at once")
}

func TestNeverReadyTimesOutWithLastError(t *testing.T) {
	t.Parallel()
	b := harness.StartBastion(t)
	g := startGitLab(t, 502)
	a := args(b, g)
	a.Timeout = "2s"
	start := time.Now()
	_, err := fastWaiter().Wait(t.Context(), config(t, a))
	elapsed := time.Since(start)
	require.ErrorIs(t, err, provider.ErrNotReady)
	require.ErrorContains(t, err, "was not ready after 2s")
	require.ErrorContains(t, err, "last: HTTP 502")
	assert.GreaterOrEqual(t, elapsed, 2*time.Second)
	assert.Less(t, elapsed, 10*time.Second, "the wait ends at its timeout")
	assert.Greater(t, g.requests.Load(), int64(3), "it kept polling")
	assert.EqualValues(t, 1, b.Connections(), "one TCP connection to the bastion for the whole wait")
}

func TestTargetRefusedIsNotYet(t *testing.T) {
	t.Parallel()
	b := harness.StartBastion(t)
	g := startGitLab(t, 200)
	a := args(b, g)
	a.TargetPort = 1 // nothing listens there
	a.Timeout = "1s"
	_, err := fastWaiter().Wait(t.Context(), config(t, a))
	require.ErrorIs(t, err, provider.ErrNotReady)
	require.ErrorContains(t, err, "last: the bastion at "+net.JoinHostPort(b.Host, strconv.Itoa(b.Port))+" could not connect to "+g.host+":1")
	assert.EqualValues(t, 1, b.Connections())
}

func TestWrongKeyFailsAtOnce(t *testing.T) {
	t.Parallel()
	b := harness.StartBastion(t)
	g := startGitLab(t, 200)
	a := args(b, g)
	a.PrivateKey = harness.BastionKey(t)
	start := time.Now()
	_, err := fastWaiter().Wait(t.Context(), config(t, a))
	require.ErrorIs(t, err, sshbastion.ErrKeyRefused)
	require.ErrorContains(t, err, "refused the SSH key for user \""+b.User+"\"")
	require.ErrorContains(t, err, "register the automation public key")
	assert.True(t, provider.IsPermanent(err))
	assert.Less(t, time.Since(start), 10*time.Second, "no retries")
	assert.EqualValues(t, 1, b.Connections(), "no retries")
	assert.Zero(t, g.requests.Load())
}

func TestHostKeyChangedBetweenAttempts(t *testing.T) {
	t.Parallel()
	b := harness.StartBastion(t)
	g := startGitLab(t, 502)
	first := b.HostKeyFingerprint()
	done := goWait(t.Context(), fastWaiter(), config(t, args(b, g)))
	g.waitRequests(t, 2)

	b.RotateBastionHostKey(t)
	b.Restart(t)
	select {
	case r := <-done:
		require.ErrorIs(t, r.err, sshbastion.ErrHostKeyMismatch)
		require.ErrorContains(t, r.err, "changed its host key since it was first trusted (first "+first+", now "+b.HostKeyFingerprint()+")")
		// 2, or 3 when an attempt fell in the moment sshd was down.
		assert.LessOrEqual(t, b.Connections(), int64(3), "refused on the first handshake with the new key")
	case <-time.After(30 * time.Second):
		t.Fatal("the wait did not stop on a changed host key")
	}
}

func TestBastionRestartedMidWait(t *testing.T) {
	t.Parallel()
	b := harness.StartBastion(t)
	g := startGitLab(t, 502)
	done := goWait(t.Context(), fastWaiter(), config(t, args(b, g)))
	g.waitRequests(t, 2)

	b.Stop(t)
	time.Sleep(500 * time.Millisecond) // attempts fail while the bastion is away
	g.ready.Store(true)
	b.Start(t)
	select {
	case r := <-done:
		require.NoError(t, r.err)
		assert.GreaterOrEqual(t, r.res.Connections, 2, "it reconnected")
		assert.GreaterOrEqual(t, b.Connections(), int64(2))
		assert.Equal(t, b.HostKeyFingerprint(), r.res.HostKeyFingerprint)
	case <-time.After(30 * time.Second):
		t.Fatal("the wait did not succeed after the bastion came back")
	}
}

func TestCancellationStopsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		hang bool
	}{
		{"during a request", true},
		{"between attempts", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := harness.StartBastion(t)
			g := startGitLab(t, 502)
			g.hang = tc.hang
			a := args(b, g)
			a.PollInterval = "1m" // a long pause between attempts
			w := fastWaiter()
			w.InitialDelay = time.Minute
			w.AttemptTimeout = time.Minute
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := goWait(ctx, w, config(t, a))
			g.waitRequests(t, 1)
			time.Sleep(100 * time.Millisecond) // the request is in flight, or the pause has begun
			canceled := time.Now()
			cancel()
			select {
			case r := <-done:
				require.ErrorIs(t, r.err, context.Canceled)
				require.ErrorContains(t, r.err, "stopped waiting for GitLab")
				assert.Less(t, r.at.Sub(canceled), time.Second, "cancellation stops the wait within a second")
			case <-time.After(10 * time.Second):
				t.Fatal("the wait ignored cancellation")
			}
		})
	}
}

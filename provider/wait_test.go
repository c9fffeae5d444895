package provider

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWaitLastAttemptGetsASecond: an attempt made at the deadline still has
// min(attemptTimeout, 1s) to answer, not what is left of the timeout (nothing).
func TestWaitLastAttemptGetsASecond(t *testing.T) {
	t.Parallel()
	key, _ := newKeyPEM(t)
	cfg := testConfig(t, "10.0.0.10", 80, key)
	cfg.Timeout = 2 * time.Second
	clock := newFakeClock()
	w := &Waiter{Clock: clock, Rand: func() float64 { return 0 }}
	s, err := w.Open(cfg)
	require.NoError(t, err)
	defer s.Close()

	start := clock.Now()
	type attempt struct{ at, budget time.Duration }
	var attempts []attempt
	errTimedOut := errors.New("timed out")
	_, err = waitFor(context.Background(), s, poller[Status]{
		ask: func(ctx context.Context) (Status, error) {
			deadline, ok := ctx.Deadline()
			require.True(t, ok, "every attempt is bounded")
			attempts = append(attempts, attempt{clock.Now().Sub(start), time.Until(deadline)})
			return Status{Detail: "not yet"}, nil
		},
		timedOut: TimeoutError{Kind: errTimedOut},
	})
	require.ErrorIs(t, err, errTimedOut)
	var timedOut *TimeoutError
	require.ErrorAs(t, err, &timedOut)
	// Pauses of 1s then 2s capped at the deadline: attempts at 0s, 1s and 2s.
	require.Len(t, attempts, 3)
	assert.Equal(t, timedOut.Attempts, len(attempts))
	assert.Equal(t, "not yet", timedOut.Last)
	assert.Equal(t, 2*time.Second, attempts[2].at, "the last attempt is made at the deadline")
	for _, a := range attempts {
		assert.Greater(t, a.budget, 900*time.Millisecond, "attempt at %s", a.at)
	}
}

package provider

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Every resource reaches GitLab the same way: a Session (one SSH connection
// to the bastion, an HTTP client through it) and a poller that says what one
// attempt asks. waitFor repeats the attempt until it is done (Create); once
// makes a single attempt (Read, on pulumi refresh).

// poller is what one kind of wait asks GitLab, and how its messages name it.
type poller struct {
	// progress completes "waiting for %s (attempt 2, last: HTTP 502)".
	progress string
	// stopped completes "stopped waiting for %s after 2 attempts (last: HTTP 502): context canceled".
	stopped string
	// attempt makes one request: done, or why not (detail). An error means no
	// answer; IsPermanent tells whether retrying can help.
	attempt func(ctx context.Context) (done bool, detail string, err error)
	// timedOut is the error of a wait that ran out of time, with the last reason.
	timedOut func(attempts int, last string) error
}

// waitFor is every wait's loop: it makes attempts with a capped, jittered
// backoff between them until one is done, the timeout passes, an attempt
// fails for good or ctx ends, and reports each failed attempt to cfg.Progress.
// It returns the number of attempts made.
func (s *Session) waitFor(ctx context.Context, p poller) (int, error) {
	clock := s.w.clock()
	backoff := Backoff{Initial: s.w.initialDelay(), Max: s.cfg.PollInterval, Jitter: DefaultJitter, Rand: s.w.Rand}
	deadline := clock.Now().Add(s.cfg.Timeout)
	last := "no attempt finished"
	for attempt := 1; ; attempt++ {
		remaining := deadline.Sub(clock.Now())
		// The last attempt, at the deadline, still gets a fair chance to answer.
		actx, cancel := context.WithTimeout(ctx, max(min(s.w.attemptTimeout(), remaining), min(s.w.attemptTimeout(), time.Second)))
		done, detail, err := p.attempt(actx)
		cancel()
		if ctx.Err() != nil {
			return attempt, fmt.Errorf("stopped waiting for %s after %d attempts (last: %s): %w", p.stopped, attempt, last, ctx.Err())
		}
		switch {
		case err == nil && done:
			return attempt, nil
		case err == nil:
			last = detail
		case IsPermanent(err):
			return attempt, err
		default:
			last = s.describe(err)
		}
		now := clock.Now()
		if !now.Before(deadline) {
			return attempt, p.timedOut(attempt, last)
		}
		if s.cfg.Progress != nil {
			s.cfg.Progress(fmt.Sprintf("waiting for %s (attempt %d, last: %s)", p.progress, attempt, last))
		}
		if err := clock.Sleep(ctx, min(backoff.Delay(attempt), deadline.Sub(now))); err != nil {
			return attempt, fmt.Errorf("stopped waiting for %s after %d attempts (last: %s): %w", p.stopped, attempt, last, err)
		}
	}
}

// describe turns a transient error into the short "last:" text of a progress line.
func (s *Session) describe(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", s.w.attemptTimeout())
	}
	return err.Error()
}

// once makes a single attempt of p, bounded like one attempt of a wait. A
// permanent error is returned as is; a transient one, or an answer that is
// not done, gives why: the reason to wait again.
func (s *Session) once(ctx context.Context, p poller) (done bool, why string, err error) {
	actx, cancel := context.WithTimeout(ctx, s.w.attemptTimeout())
	defer cancel()
	done, why, err = p.attempt(actx)
	switch {
	case IsPermanent(err):
		return false, "", err
	case err != nil:
		return false, err.Error(), nil
	}
	return done, why, nil
}

// reopen opens a session for a refresh of what a wait saw: unless a host key
// is pinned, the bastion must present the key the wait trusted, not a new one.
func (w *Waiter) reopen(cfg Config, trusted string) (*Session, error) {
	if cfg.HostKeyFingerprint == "" {
		cfg.HostKeyFingerprint = trusted
	}
	return w.Open(cfg)
}

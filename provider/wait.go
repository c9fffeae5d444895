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

// answer is what one attempt learnt from GitLab (Status, AgentStatus, PipelineStatus).
type answer interface {
	// verdict says whether the wait is over and, if not, why.
	verdict() (done bool, why string)
	// summary says what an answer that ended the wait showed, for the log, or "".
	summary() string
}

// poller is what one kind of wait asks GitLab, and how its messages name it.
type poller[T answer] struct {
	// progress completes "waiting for %s (attempt 2, last: HTTP 502)".
	progress string
	// stopped completes "stopped waiting for %s after 2 attempts (last: HTTP 502): context canceled".
	stopped string
	// ask makes one request. An error means no answer; IsPermanent tells
	// whether retrying can help.
	ask func(ctx context.Context) (T, error)
	// timedOut is the error of a wait that runs out of time, but for what
	// the wait fills in: Host, Timeout, Attempts, Last and Seen.
	timedOut TimeoutError
	// seen, when set, says where the attempts so far point a person who
	// must look (the pipeline's URL): the timeout error's Seen.
	seen func() string
}

// Result is what a wait saw when it ended well.
type Result[T answer] struct {
	// Status is the answer that ended the wait.
	Status T
	// At is when that answer came.
	At time.Time
	// Attempts is the number of attempts made.
	Attempts int
	// Connections is the number of SSH connections opened to the bastion.
	Connections int
	// HostKeyFingerprint is the bastion host key fingerprint that was trusted.
	HostKeyFingerprint string
}

// result is what s saw, ending with st after attempts.
func result[T answer](s *Session, st T, attempts int) Result[T] {
	return Result[T]{
		Status:             st,
		At:                 s.w.clock().Now(),
		Attempts:           attempts,
		Connections:        s.Connections(),
		HostKeyFingerprint: s.HostKeyFingerprint(),
	}
}

// waitFor is every wait's loop: it makes attempts with a capped, jittered
// backoff between them until one is done, the timeout passes, an attempt
// fails for good or ctx ends, and reports each failed attempt to cfg.Progress.
// Its error, but for ctx's end, says how many attempts were made.
func waitFor[T answer](ctx context.Context, s *Session, p poller[T]) (Result[T], error) {
	clock := s.w.clock()
	backoff := Backoff{Initial: s.w.initialDelay(), Max: s.cfg.PollInterval, Jitter: DefaultJitter, Rand: s.w.Rand}
	deadline := clock.Now().Add(s.cfg.Timeout)
	last := "no attempt finished"
	for attempt := 1; ; attempt++ {
		remaining := deadline.Sub(clock.Now())
		// The last attempt, at the deadline, still gets a fair chance to answer.
		actx, cancel := context.WithTimeout(ctx, max(min(s.w.attemptTimeout(), remaining), min(s.w.attemptTimeout(), time.Second)))
		st, err := p.ask(actx)
		cancel()
		if ctx.Err() != nil {
			return Result[T]{}, fmt.Errorf("stopped waiting for %s after %d attempts (last: %s): %w", p.stopped, attempt, last, ctx.Err())
		}
		switch done, why := st.verdict(); {
		case IsPermanent(err):
			return Result[T]{}, err
		case err != nil:
			last = s.describe(err)
		case done:
			return result(s, st, attempt), nil
		default:
			last = why
		}
		now := clock.Now()
		if !now.Before(deadline) {
			e := p.timedOut
			e.Host, e.Timeout, e.Attempts, e.Last = s.host, s.cfg.Timeout, attempt, last
			if p.seen != nil {
				e.Seen = p.seen()
			}
			return Result[T]{}, &e
		}
		if s.cfg.Progress != nil {
			s.cfg.Progress(fmt.Sprintf("waiting for %s (attempt %d, last: %s)", p.progress, attempt, last))
		}
		if err := clock.Sleep(ctx, min(backoff.Delay(attempt), deadline.Sub(now))); err != nil {
			return Result[T]{}, fmt.Errorf("stopped waiting for %s after %d attempts (last: %s): %w", p.stopped, attempt, last, err)
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
// permanent error is returned as is, but for a final answer (a pipeline that
// failed), which is not done like a transient error or an answer that is
// not done yet: they give why, the reason to wait again.
func once[T answer](ctx context.Context, s *Session, p poller[T]) (res Result[T], done bool, why string, err error) {
	actx, cancel := context.WithTimeout(ctx, s.w.attemptTimeout())
	defer cancel()
	st, err := p.ask(actx)
	switch {
	case IsPermanent(err) && !isFinalAnswer(err):
		return Result[T]{}, false, "", err
	case err != nil:
		return Result[T]{}, false, err.Error(), nil
	}
	done, why = st.verdict()
	return result(s, st, 1), done, why, nil
}

// finalAnswer is implemented by the permanent errors that are GitLab's own
// answer about what is waited for, such as a pipeline that failed, rather
// than a failure to ask (a refused token or key): a wait stops at once, but
// a refresh counts the answer as "not done", so the resource disappears and
// the next up waits again, and fails the same way if nothing changed.
type finalAnswer interface {
	error
	finalAnswer()
}

func isFinalAnswer(err error) bool {
	var fa finalAnswer
	return errors.As(err, &fa)
}

// reopen opens a session for a refresh of what a wait saw: unless a host key
// is pinned, the bastion must present the key the wait trusted, not a new one.
func (w *Waiter) reopen(cfg Config, trusted string) (*Session, error) {
	if cfg.HostKeyFingerprint == "" {
		cfg.HostKeyFingerprint = trusted
	}
	return w.Open(cfg)
}

// TimeoutError ends a wait that ran out of time: what GitLab did not show,
// the last reason and where to look.
type TimeoutError struct {
	// Kind is what errors.Is matches: ErrNotReady, ErrAgentNotConnected or
	// ErrPipelineNotSucceeded.
	Kind error
	// What completes "GitLab at 10.0.0.10:80 ...", e.g. "was not ready".
	What string
	// Hint says where to look, before raising the timeout.
	Hint string
	// Host is GitLab's "host:port".
	Host string
	// Timeout is how long the wait lasted.
	Timeout time.Duration
	// Attempts is the number of attempts made.
	Attempts int
	// Last is why the last attempt was not done.
	Last string
	// Seen is where the attempts pointed, such as the pipeline's URL, or "".
	Seen string
}

// Error says what was seen last and what to look at.
func (e *TimeoutError) Error() string {
	last := e.Last
	if e.Seen != "" {
		last += " (" + e.Seen + ")"
	}
	return fmt.Sprintf("GitLab at %s %s after %s (%d attempts), last: %s: %s, or raise timeout",
		e.Host, e.What, e.Timeout, e.Attempts, last, e.Hint)
}

// Is makes errors.Is(err, e.Kind) true.
func (e *TimeoutError) Is(target error) bool { return target == e.Kind }

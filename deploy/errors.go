package deploy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// Kinds of failure that the errors of Open, OpenExisting, the Stack's
// methods, FindPulumi and CheckBackend can be matched against with
// errors.Is. What the engine refused comes as an *Error (errors.As finds it
// also when a failed cleanup or lock removal is joined to it).
var (
	// ErrLocked: another operation holds the stack's lock.
	ErrLocked = errors.New("another operation holds the stack's lock: wait for it to finish, or, if it died, run `pulumi cancel` for this stack")
	// ErrNoStack: the stack does not exist on the backend.
	ErrNoStack = errors.New("no such stack")
	// ErrBackend: the backend URL is malformed or the backend cannot be reached.
	ErrBackend = errors.New("bad backend")
	// ErrNoPulumi: the Pulumi CLI is missing or too old.
	ErrNoPulumi = errors.New("the Pulumi CLI is missing")
	// ErrCancelled: the caller's context ended the operation.
	ErrCancelled = errors.New("cancelled")
)

// Error is the failure of one operation on one stack. Its message is short
// (the engine's own error lines); Unwrap gives the kind (ErrLocked, ...)
// and the Automation API's error with the CLI's full output.
type Error struct {
	// Op is the operation: "select", "create or select", "config",
	// "preview", "up", "refresh", "destroy" or "outputs".
	Op string
	// Stack is the stack's name.
	Stack string
	// Kind is one of the Err* values above, or nil.
	Kind error
	// Hint says what to do, or is empty.
	Hint string
	// Err is the underlying error.
	Err error

	// cause is the context's error when the caller cancelled.
	cause error
	// backend is the backend URL, whose password Error hides.
	backend string
}

// Error names the operation, the stack, what went wrong and what to do.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s of stack %q", e.Op, e.Stack)
	switch {
	case e.Kind == ErrLocked:
		b.WriteString(": " + ErrLocked.Error())
	case e.Kind != nil:
		b.WriteString(": " + e.Kind.Error())
	}
	if d := engineMessage(e.Err); d != "" {
		b.WriteString(": " + d)
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return scrub(b.String(), e.backend)
}

// Unwrap returns the kind and the underlying error.
func (e *Error) Unwrap() []error {
	errs := []error{e.Err}
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// classify wraps err from op, recognising the failures callers act on.
func classify(ctx context.Context, op, stackName, backend string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Stack: stackName, Err: err, backend: backend}
	text := err.Error()
	switch {
	case ctx.Err() != nil:
		e.Kind = ErrCancelled
		e.cause = context.Cause(ctx)
		e.Hint = "resources the engine was changing may be pending: run refresh, then the operation again"
	case auto.IsConcurrentUpdateError(err):
		e.Kind = ErrLocked
	case auto.IsSelectStack404Error(err), strings.Contains(text, "no stack named"):
		e.Kind = ErrNoStack
		e.Hint = fmt.Sprintf("check the stack name and the backend %s; `up` creates it", redact(backend))
	case isBackendFailure(text):
		e.Kind = ErrBackend
		e.Hint = fmt.Sprintf("check the backend URL %s and its credentials", redact(backend))
	case strings.Contains(text, "passphrase must be set") || strings.Contains(text, "incorrect passphrase"):
		e.Hint = "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the stack's passphrase"
	}
	return e
}

// isBackendFailure reports whether the CLI's output says it could not use the backend.
func isBackendFailure(text string) bool {
	for _, s := range []string{
		"could not create backend", "unable to open bucket", "unknown scheme",
		"no such host", "connection refused", "problem logging in", "failed to log in",
		"could not log in", "is not a valid URL", "NoCredentialProviders",
	} {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}

// diagnosticPrefixes start the lines the CLI writes for a diagnostic
// ("error: ", "warning: ", ...); the first one is what engineMessage keeps.
var diagnosticPrefixes = []string{"error: ", "warning: ", "info: ", "info#err: ", "debug: "}

// streamPrefixes start the Automation API's sections of the CLI's output,
// which autoError's text runs together.
var streamPrefixes = []string{"stdout: ", "stderr: ", "code: "}

// multiErrorHead is go-multierror's first line for one error ("1 error
// occurred:"), which the Go SDK puts before a program's error, its bullet
// on the next line.
var multiErrorHead = regexp.MustCompile(`(^|: )1 error occurred:$`)

// engineMessage picks the errors the CLI wrote out of the Automation API's
// error text (which carries the whole stdout and stderr): each "error: "
// diagnostic with its continuation lines, up to the next diagnostic, a
// blank line or the next section, so that a multi-line message (the
// program's "configuration of stack ...:" with one bad key per line) keeps
// every line. Continuation lines are indented by two spaces; distinct
// errors are joined by "; ".
func engineMessage(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	var picked []string
	seen := map[string]bool{}
	var cur []string // the error being read, nil outside one
	flush := func() {
		if cur == nil {
			return
		}
		msg := tidy(cur)
		cur = nil
		if !seen[msg] {
			seen[msg] = true
			picked = append(picked, msg)
		}
	}
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimRightFunc(raw, unicode.IsSpace)
		l := strings.TrimLeftFunc(line, unicode.IsSpace)
		// A section's name is followed by a space, which an empty section
		// loses to the trim above.
		if p, ok := cutAny(l+" ", streamPrefixes); ok {
			flush()
			l = strings.TrimSpace((l + " ")[len(p):])
		}
		switch p, ok := cutAny(l, diagnosticPrefixes); {
		case ok:
			flush()
			if p == "error: " {
				cur = []string{strings.TrimPrefix(l, p)}
			}
		case l == "":
			flush()
		case cur != nil:
			cur = append(cur, l)
		}
	}
	flush()
	if len(picked) > 0 {
		return strings.Join(picked, "; ")
	}
	// Not from the CLI: its first line is the message.
	first, _, _ := strings.Cut(text, "\n")
	return first
}

// tidy joins one error's lines, dropping the one-error framing the Go SDK
// adds ("1 error occurred:" then "* " on the next line).
func tidy(lines []string) string {
	if len(lines) > 1 && multiErrorHead.MatchString(lines[0]) {
		head := strings.TrimSuffix(multiErrorHead.ReplaceAllString(lines[0], ""), ":")
		next := strings.TrimPrefix(lines[1], "* ")
		if head != "" {
			next = head + ": " + next
		}
		lines = append([]string{next}, lines[2:]...)
	}
	return strings.Join(lines, "\n  ")
}

// cutAny returns the prefix of s among prefixes, if any.
func cutAny(s string, prefixes []string) (string, bool) {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return p, true
		}
	}
	return "", false
}

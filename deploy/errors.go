package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// Kinds of failure an Operation's error can be matched against with errors.Is.
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
	// Op is the operation: "select", "create", "config", "preview", "up",
	// "refresh", "destroy" or "outputs".
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
	return b.String()
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
	e := &Error{Op: op, Stack: stackName, Err: err}
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

// engineMessage picks the error lines the CLI wrote out of the Automation
// API's error text (which carries the whole stdout and stderr).
func engineMessage(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	var picked []string
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		l := strings.TrimPrefix(line, "stderr: ")
		l = strings.TrimPrefix(l, "stdout: ")
		if !strings.HasPrefix(l, "error: ") {
			continue
		}
		l = strings.TrimPrefix(l, "error: ")
		if !seen[l] {
			seen[l] = true
			picked = append(picked, l)
		}
	}
	if len(picked) > 0 {
		return strings.Join(picked, "; ")
	}
	// Not from the CLI: its first line is the message.
	first, _, _ := strings.Cut(text, "\n")
	return first
}

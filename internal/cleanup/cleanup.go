package cleanup

import (
	"errors"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// List collects the cleanups registered during one run of the program. The
// zero value is ready to use; it is safe for concurrent use.
type List struct {
	mu  sync.Mutex
	fns []func() error
	// ran is set by Run: what is registered later runs at once.
	ran bool
	// late are the errors of the cleanups that ran at once, for the next Run.
	late []error
}

// listKey carries a *List in a pulumi.Context.
type listKey struct{}

// With returns ctx carrying l: what the program registers with Register on
// the returned Context (or one derived from it) goes to l. A driver that
// runs the program in its own process, and goes on after the run, installs
// a fresh List per run and calls Run when the run ends.
func With(ctx *pulumi.Context, l *List) *pulumi.Context {
	return ctx.WithValue(listKey{}, l)
}

// Register adds fn to the List that ctx carries and reports whether one
// does. False means no driver collects cleanups (plain `pulumi up`, whose
// program process exits after the run, or a mock run): the caller then
// releases what it holds itself, or leaves it to the process's exit. On a
// List that has run (a program still finishing after its operation was
// cancelled), fn runs at once.
func Register(ctx *pulumi.Context, fn func() error) bool {
	l, ok := ctx.Value(listKey{}).(*List)
	if !ok || l == nil {
		return false
	}
	if fn == nil {
		return true
	}
	l.mu.Lock()
	if !l.ran {
		l.fns = append(l.fns, fn)
		l.mu.Unlock()
		return true
	}
	l.mu.Unlock()
	if err := fn(); err != nil {
		l.mu.Lock()
		l.late = append(l.late, err)
		l.mu.Unlock()
	}
	return true
}

// Run runs the registered cleanups, the last registered first (what was
// opened later may depend on what was opened before), each once, and joins
// their errors. From then on a registered cleanup runs at once; a second Run
// reports the errors of those.
func (l *List) Run() error {
	l.mu.Lock()
	fns, errs := l.fns, l.late
	l.fns, l.late, l.ran = nil, nil, true
	l.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		if err := fns[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

package provider

import (
	"context"
	"fmt"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// Every resource lives the same way: Check applies the defaults and reports
// invalid inputs by key; Create waits (a preview dials nothing and leaves
// the outputs unknown); Diff replaces the resource, which waits again, when
// an input marked diff:"replace" changes, and any other change is an Update
// that records the inputs and dials nothing; Read returns the recorded
// state, and only with GITLABWAIT_RECHECK=true (pulumi refresh) asks GitLab
// once, a "no" making the resource disappear so that the next up waits
// again. lifecycle is that, once; each resource says what is its own
// through the methods of its Args (waitArgs) and State (waitState).

// waitResource is every capability a resource has through lifecycle.
type waitResource[A, S any] interface {
	infer.CustomResource[A, S]
	infer.CustomCheck[A]
	infer.CustomDiff[A, S]
	infer.CustomUpdate[A, S]
	infer.CustomRead[A, S]
	infer.Annotated
}

// The resources have every capability, and schema docs for their inputs and outputs
// (PipelineSucceeded says so in its own file).
var (
	_ waitResource[GitLabReadyArgs, GitLabReadyState]       = (*GitLabReady)(nil)
	_ waitResource[AgentConnectedArgs, AgentConnectedState] = (*AgentConnected)(nil)
	_ infer.Annotated                                       = (*GitLabReadyArgs)(nil)
	_ infer.Annotated                                       = (*GitLabReadyState)(nil)
	_ infer.Annotated                                       = (*AgentConnectedArgs)(nil)
	_ infer.Annotated                                       = (*AgentConnectedState)(nil)
)

// waitArgs are a resource's inputs as lifecycle uses them.
type waitArgs[A any, T answer] interface {
	resourceArgs[A]
	// plan checks the inputs, fills the defaults and returns the wait they describe.
	plan() (plan[T], error)
	// id names what was waited for; it is informative only.
	id(name string) string
}

// waitState is a resource's state, through a pointer, as lifecycle uses
// it: the inputs it records and what the wait saw.
type waitState[A any, T answer] interface {
	// args points at the recorded inputs.
	args() *A
	// trust points at the recorded bastion host key (Trusted's).
	trust() *Trusted
	// saw records what a create's wait saw, but for the host key.
	saw(Result[T])
	// refreshed records what a refresh saw.
	refreshed(Result[T])
}

// plan is one wait of a resource, checked and defaulted, and the words its
// log lines name it with.
type plan[T answer] struct {
	cfg Config
	// poller is what each attempt asks, on the session lifecycle opens.
	poller func(*Session) poller[T]
	// subject names what is waited for: "GitLab at http://...", `agent "kapsule"`.
	subject string
	// waiting completes a create's "waiting for %s through the bastion ...".
	waiting string
	// done is what subject is when the wait is over: "ready", "connected".
	done string
}

// lifecycle gives a resource its Check, Create, Diff, Update and Read.
type lifecycle[A waitArgs[A, T], T answer, S any, PS interface {
	*S
	waitState[A, T]
}] struct {
	opts Options
}

// Check applies the defaults and reports invalid inputs by key.
func (lifecycle[A, T, S, PS]) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[A], error) {
	return checkInputs[A](ctx, req)
}

// Create waits; a preview (DryRun) dials nothing and leaves the outputs unknown.
func (l lifecycle[A, T, S, PS]) Create(ctx context.Context, req infer.CreateRequest[A]) (infer.CreateResponse[S], error) {
	var state S
	args := req.Inputs.withDefaults()
	*PS(&state).args() = args
	if req.DryRun {
		return infer.CreateResponse[S]{Output: state}, nil
	}
	w, err := args.plan()
	if err != nil {
		return infer.CreateResponse[S]{}, err
	}
	log := p.GetLogger(ctx)
	w.cfg.Progress = log.InfoStatus
	log.Infof("waiting for %s through the bastion %s (timeout %s)", w.waiting, w.cfg.BastionAddr, w.cfg.Timeout)
	s, err := l.opts.Waiter.Open(w.cfg)
	if err != nil {
		return infer.CreateResponse[S]{}, err
	}
	defer s.Close()
	res, err := waitFor(ctx, s, w.poller(s))
	if err != nil {
		return infer.CreateResponse[S]{}, err
	}
	details := fmt.Sprintf("attempts: %d", res.Attempts)
	if seen := res.Status.summary(); seen != "" {
		details = seen + "; " + details
	}
	log.Infof("%s is %s (%s)", w.subject, w.done, details)
	PS(&state).saw(res)
	PS(&state).trust().BastionHostKeyFingerprint = res.HostKeyFingerprint
	return infer.CreateResponse[S]{ID: args.id(req.Name), Output: state}, nil
}

// Diff replaces the resource when an input marked replace changes; defaults
// spelled out are no change.
func (lifecycle[A, T, S, PS]) Diff(_ context.Context, req infer.DiffRequest[A, S]) (infer.DiffResponse, error) {
	olds := (*PS(&req.State).args()).withDefaults()
	return diffInputs(olds, req.Inputs.withDefaults()), nil
}

// Update records new inputs that do not change what is waited for (a new
// key, bastion, timeout...); it dials nothing and keeps what the wait saw.
func (lifecycle[A, T, S, PS]) Update(_ context.Context, req infer.UpdateRequest[A, S]) (infer.UpdateResponse[S], error) {
	state := req.State
	*PS(&state).args() = req.Inputs.withDefaults()
	return infer.UpdateResponse[S]{Output: state}, nil
}

// Read returns the recorded state; asked to recheck, it asks GitLab once,
// through the bastion key the wait trusted, and a "no" removes the resource.
func (l lifecycle[A, T, S, PS]) Read(ctx context.Context, req infer.ReadRequest[A, S]) (infer.ReadResponse[A, S], error) {
	resp := infer.ReadResponse[A, S]{ID: req.ID, Inputs: req.Inputs, State: req.State}
	if !l.opts.Recheck(ctx) {
		return resp, nil
	}
	state := PS(&resp.State)
	w, err := (*state.args()).plan()
	if err != nil {
		return resp, err
	}
	s, err := l.opts.Waiter.reopen(w.cfg, state.trust().BastionHostKeyFingerprint)
	if err != nil {
		return resp, err
	}
	defer s.Close()
	res, done, why, err := once(ctx, s, w.poller(s))
	switch {
	case err != nil:
		return resp, err
	case !done:
		p.GetLogger(ctx).Warningf("%s is not %s (%s): the next up waits for it again", w.subject, w.done, why)
		return infer.ReadResponse[A, S]{}, nil
	}
	state.refreshed(res)
	return resp, nil
}

// annotateResource gives a resource its token, in the package's one module
// (index), and its description.
func annotateResource(a infer.Annotator, r any, name tokens.TypeName, description string) {
	a.SetToken("index", name)
	a.Describe(r, description)
}

// describeDefault documents an optional input and sets its default, of the
// input's own type.
func describeDefault[T any](an infer.Annotator, field *T, description string, value T) {
	an.Describe(field, description)
	an.SetDefault(field, value)
}

// Trusted is the output every resource records: the bastion host key their
// wait trusted, which a refresh must see again unless a key is pinned.
type Trusted struct {
	// BastionHostKeyFingerprint is the bastion host key fingerprint trusted.
	BastionHostKeyFingerprint string `pulumi:"bastionHostKeyFingerprint"`
}

var _ infer.Annotated = (*Trusted)(nil)

// Annotate documents the output.
func (t *Trusted) Annotate(an infer.Annotator) {
	an.Describe(&t.BastionHostKeyFingerprint, "The SHA256 fingerprint of the bastion host key that was trusted.")
}

func (t *Trusted) trust() *Trusted { return t }

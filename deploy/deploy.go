package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	stackconfig "github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/cleanup"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

// Stack is one opened stack of the program. Its methods run one engine
// operation each; it is safe to use from one goroutine at a time (open two
// Stacks to run operations side by side, which the stack's lock then
// refuses).
//
// Preview, Up, Refresh and Destroy take the Automation API's own options
// for their operation (optup.Target, optup.Parallel, optup.Message, ...),
// applied after this package's (Diff, RunProgram, and the streams of
// Options.Progress, ErrorProgress and Events): an option that sets the same
// thing wins, so a ProgressStreams or EventStreams among them replaces the
// Stack's for that call. They are the Automation API's options rather than
// a struct of this package's because an embedder already knows them, each
// of the CLI's flags has one, and a new one needs no release of this
// package.
//
// What the program holds in this process during an operation (its SSH
// tunnel to GitLab, registered with package internal/cleanup) is released
// when the operation ends, also when it fails or is cancelled; a failure
// to release it is joined to the operation's error.
type Stack struct {
	opts    Options
	backend string
	stack   auto.Stack
	// configuredKeys are the stack's configuration keys, read before each
	// operation: an inline program gets its configuration through RunInfo,
	// not PULUMI_CONFIG, so config.Load learns the keys it must judge (an
	// unknown or misspelt one is refused) through config.WithConfiguredKeys.
	configuredKeys []string
	// op is the operation running, which the program sees (wrap).
	op string
	// cleanups collect what the program registers during the operation
	// running (wrap), for run to release when it ends.
	cleanups *cleanup.List
	// gitlabGone is set when the operation running found GitLab or the
	// bastion not answering (recoverParts).
	gitlabGone bool
}

// Open creates the stack, or selects it when it exists, and sets
// opts.Config on it.
func Open(ctx context.Context, opts Options) (*Stack, error) {
	return open(ctx, opts, true)
}

// OpenExisting selects the stack and fails with ErrNoStack when the
// backend has no such stack: for operations that make no sense on a new
// one (outputs, destroy).
func OpenExisting(ctx context.Context, opts Options) (*Stack, error) {
	return open(ctx, opts, false)
}

func open(ctx context.Context, opts Options, create bool) (*Stack, error) {
	var err error
	if opts.StackName == "" {
		return nil, errors.New("no stack name: set Options.StackName (for example \"dev\")")
	}
	if _, err := tokens.ParseStackName(opts.StackName); err != nil {
		return nil, fmt.Errorf("stack name %q: %w: use letters, digits, '-', '_' and '.'", opts.StackName, err)
	}
	s := &Stack{opts: opts, backend: opts.Backend}
	if s.backend == "" {
		if s.backend, err = DefaultBackend(); err != nil {
			return nil, err
		}
	}
	if err := CheckBackend(s.backend); err != nil {
		return nil, err
	}
	config, err := opts.Config.encode()
	if err != nil {
		return nil, err
	}
	cmd := opts.Command
	if cmd == nil {
		if cmd, err = FindPulumi(ctx, opts.InstallPulumi); err != nil {
			return nil, err
		}
	}
	inner := opts.Program
	if inner == nil {
		inner = stack.Deploy
	}
	program := s.wrap(inner)

	env := map[string]string{"PULUMI_BACKEND_URL": s.backend, "PULUMI_SKIP_UPDATE_CHECK": "true"}
	maps.Copy(env, opts.Env)
	// auto.EnvVars is read when the workspace is made, below: what
	// pluginFromProjectDir adds to env reaches the CLI too.
	wsOpts := []auto.LocalWorkspaceOption{auto.Pulumi(cmd), auto.EnvVars(env)}
	if opts.SecretsProvider != "" {
		wsOpts = append(wsOpts, auto.SecretsProvider(opts.SecretsProvider))
	}
	project := opts.Project
	if opts.ProjectDir != "" {
		dir, err := filepath.Abs(opts.ProjectDir)
		if err != nil {
			return nil, fmt.Errorf("project folder %s: %w", opts.ProjectDir, err)
		}
		proj, err := workspace.LoadProject(filepath.Join(dir, "Pulumi.yaml"))
		if err != nil {
			return nil, fmt.Errorf("read the project settings in %s: %w: run from the repository root or set the project folder", dir, err)
		}
		if err := pluginFromProjectDir(dir, proj, opts.PluginDir, env); err != nil {
			return nil, err
		}
		project = proj.Name.String()
		wsOpts = append(wsOpts, auto.WorkDir(dir))
	} else {
		if project == "" {
			project = ProjectName
		}
		workDir := opts.WorkDir
		if workDir == "" {
			if workDir, err = defaultWorkDir(s.backend, project); err != nil {
				return nil, err
			}
		}
		if err := os.MkdirAll(workDir, 0o700); err != nil {
			return nil, fmt.Errorf("create the work folder %s: %w", workDir, err)
		}
		proj := workspace.Project{
			Name:    tokens.PackageName(project),
			Runtime: workspace.NewProjectRuntimeInfo("go", nil),
		}
		if proj.Plugins, err = projectPlugins(opts.PluginDir); err != nil {
			return nil, err
		}
		wsOpts = append(wsOpts, auto.WorkDir(workDir), auto.Project(proj))
	}

	op := "select"
	if create {
		op = "create or select"
		s.stack, err = auto.UpsertStackInlineSource(ctx, opts.StackName, project, program, wsOpts...)
	} else {
		s.stack, err = auto.SelectStackInlineSource(ctx, opts.StackName, project, program, wsOpts...)
	}
	if err != nil {
		return nil, classify(ctx, op, opts.StackName, s.backend, err)
	}
	if len(config) > 0 {
		if err := s.stack.SetAllConfig(ctx, config); err != nil {
			return nil, classify(ctx, "config", opts.StackName, s.backend, err)
		}
	}
	return s, nil
}

// Name is the stack's name.
func (s *Stack) Name() string { return s.opts.StackName }

// Backend is the backend URL in use.
func (s *Stack) Backend() string { return s.backend }

// Auto is the underlying Automation API stack, for what this package does
// not wrap (history, export, tags).
func (s *Stack) Auto() *auto.Stack { return &s.stack }

// Close releases what the Stack holds in this process (nothing yet: the
// stack, its state and configuration stay). Call it when done, so that
// later versions may hold more.
func (s *Stack) Close() error { return nil }

// defaultWorkDir is a work folder per backend and project under the user's
// configuration folder, so the configuration of stacks opened without a
// project folder persists.
func defaultWorkDir(backend, project string) (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find a folder for the stack configuration (set Options.WorkDir or HOME): %w", err)
	}
	sum := sha256.Sum256([]byte(backend))
	return filepath.Join(base, "gitlab-kapsule", "workspaces", hex.EncodeToString(sum[:6]), project), nil
}

// Preview shows what Up would change, with a diff of every changed
// property in the progress output. opts are the Automation API's own
// (optpreview.Target, Parallel, Message, ...): see Stack.
//
// When the preview replaces or deletes a guarded resource, which Up
// refuses without Options.AllowReplace, Progress gets a warning naming
// each one (PreviewWarning).
func (s *Stack) Preview(ctx context.Context, opts ...optpreview.Option) (auto.PreviewResult, error) {
	c := newCollector()
	call := func(ctx context.Context, o ...optpreview.Option) (auto.PreviewResult, error) {
		res, err := s.stack.Preview(ctx, o...)
		if r := GuardedReplacements(c.events()); err == nil && len(r) > 0 {
			fmt.Fprintln(s.progress(), PreviewWarning(r))
		}
		return res, err
	}
	return operate(ctx, s, "preview", call, previewStreams, optpreview.Diff(), opts, func(ch chan<- events.EngineEvent) ([]optpreview.Option, error) {
		// The collector listens besides the Stack's channel, or the
		// caller's, whose EventStreams would otherwise replace it.
		var o optpreview.Options
		for _, opt := range opts {
			opt.ApplyOption(&o)
		}
		streams := o.EventStreams
		if len(streams) == 0 && ch != nil {
			streams = []chan<- events.EngineEvent{ch}
		}
		return []optpreview.Option{optpreview.EventStreams(append(slices.Clone(streams), c.ch)...)}, nil
	})
}

// Up creates or updates the stack's resources, with diffs. opts are the
// Automation API's own (optup.Target, Parallel, Message, ...): see Stack.
//
// First it clears the pending operations an interrupted update left in
// the state, saying which on ErrorProgress (ClearPending); then, unless
// Options.AllowReplace or the state holds none of the guarded resources
// yet, it previews with the same options, quietly (the program runs
// twice), and refuses with a *ReplaceError (errors.Is ErrReplaceRefused) when the
// preview replaces or deletes the GitLab server, its data volume, the
// private network, GitLab's reserved address, a Kapsule cluster or the
// backup bucket, naming each with what forces it and what it costs. With
// AllowReplace and a BeforeReplace, it previews too, and calls BeforeReplace
// with those resources before the update; its error stops the up there.
func (s *Stack) Up(ctx context.Context, opts ...optup.Option) (auto.UpResult, error) {
	return operate(ctx, s, "up", s.stack.Up, upStreams, optup.Diff(), opts, func(chan<- events.EngineEvent) ([]optup.Option, error) {
		st, err := s.clearPendingWithNotice(ctx)
		if err != nil {
			return nil, err
		}
		// A state without any guarded resource (a first up) has nothing
		// to replace: no preview. One that cannot be read is previewed.
		if !s.opts.guards() || (st != nil && !st.hasGuarded()) {
			return nil, nil
		}
		if s.opts.AllowReplace {
			fmt.Fprintln(s.progress(), "Previewing first: what must precede replacing the server, data volume, network, reserved address, cluster or bucket runs before anything changes")
		} else {
			fmt.Fprintln(s.progress(), "Previewing first: up replaces no server, data volume, network, reserved address, cluster or bucket unless allowed")
		}
		return nil, s.guard(ctx, opts)
	})
}

// Refresh reads the resources' real state into the stack. The program
// runs first, so provider settings it computes at run time are current.
// opts are the Automation API's own (optrefresh.Target, ...): see Stack.
//
// First it clears pending operations (see Up) and probes the GitLab host
// through the bastion and each cluster's API, each for at most
// ProbeTimeout: the resources of a part that does not answer are excluded
// from the refresh and keep their last recorded state, which
// ErrorProgress lists.
func (s *Stack) Refresh(ctx context.Context, opts ...optrefresh.Option) (auto.RefreshResult, error) {
	return operate(ctx, s, "refresh", s.stack.Refresh, refreshStreams, optrefresh.RunProgram(true), opts, func(chan<- events.EngineEvent) ([]optrefresh.Option, error) {
		if _, err := s.clearPendingWithNotice(ctx); err != nil {
			return nil, err
		}
		var o optrefresh.Options
		for _, opt := range opts {
			opt.ApplyOption(&o)
		}
		if len(o.Target) > 0 {
			return nil, nil // the resources were chosen: refreshed as asked
		}
		exclude, err := s.recoverParts(ctx, "refresh")
		return refreshExclude(exclude, opts), err
	})
}

// Destroy deletes every resource of the stack; the stack itself and its
// configuration stay. The program runs first, so provider settings it
// computes at run time are current while deleting. opts are the Automation
// API's own (optdestroy.Target, ...): see Stack.
//
// First it clears pending operations (see Up) and probes the GitLab host
// through the bastion and each cluster's API, each for at most
// ProbeTimeout: the resources of a part that does not answer (the
// GitLab-side resources when GitLab or the bastion is gone, a cluster's
// objects when its API is) cannot be deleted, so they are removed from
// the state, which ErrorProgress lists, and the rest is destroyed. A
// destroy with targets or exclusions, which leaves part of the stack, and
// a refresh with targets skip the probes.
func (s *Stack) Destroy(ctx context.Context, opts ...optdestroy.Option) (auto.DestroyResult, error) {
	return operate(ctx, s, "destroy", s.stack.Destroy, destroyStreams, optdestroy.RunProgram(true), opts, func(chan<- events.EngineEvent) ([]optdestroy.Option, error) {
		if _, err := s.clearPendingWithNotice(ctx); err != nil {
			return nil, err
		}
		var o optdestroy.Options
		for _, opt := range opts {
			opt.ApplyOption(&o)
		}
		if len(o.Target) > 0 || len(o.Exclude) > 0 {
			// A part of the stack stays: nothing is removed from its state,
			// or the next up would create it again beside what is left.
			return nil, nil
		}
		_, err := s.recoverParts(ctx, "destroy")
		return nil, err
	})
}

// streams are an option package's constructors of the options that carry
// the Stack's progress writers and event channel: each operation of the
// Automation API has its own Option type.
type streams[O any] struct {
	progress, errorProgress func(...io.Writer) O
	events                  func(...chan<- events.EngineEvent) O
}

var (
	previewStreams = streams[optpreview.Option]{optpreview.ProgressStreams, optpreview.ErrorProgressStreams, optpreview.EventStreams}
	upStreams      = streams[optup.Option]{optup.ProgressStreams, optup.ErrorProgressStreams, optup.EventStreams}
	refreshStreams = streams[optrefresh.Option]{optrefresh.ProgressStreams, optrefresh.ErrorProgressStreams, optrefresh.EventStreams}
	destroyStreams = streams[optdestroy.Option]{optdestroy.ProgressStreams, optdestroy.ErrorProgressStreams, optdestroy.EventStreams}
)

// operate runs one of the Automation API's operations (call) through run:
// the Stack's streams and the package's own option first, opts after, so
// that the caller's option wins where both set the same thing. before,
// when set, runs first, within the operation (its cleanups, its error
// mapping), with the Stack's event channel (nil without Options.Events);
// the options it returns go last.
func operate[O, R any](ctx context.Context, s *Stack, op string, call func(context.Context, ...O) (R, error), st streams[O], own O, opts []O,
	before func(chan<- events.EngineEvent) ([]O, error)) (R, error) {
	var res R
	err := s.run(ctx, op, func(ch chan<- events.EngineEvent) error {
		var more []O
		if before != nil {
			var err error
			if more, err = before(ch); err != nil {
				return err
			}
		}
		all := []O{own, st.progress(s.progress()), st.errorProgress(s.errorProgress())}
		if ch != nil {
			all = append(all, st.events(ch))
		}
		var err error
		res, err = call(ctx, append(append(all, opts...), more...)...)
		return err
	})
	return res, err
}

// Outputs returns the stack's outputs. Secret outputs come decrypted with
// Secret set: show them only when asked.
func (s *Stack) Outputs(ctx context.Context) (auto.OutputMap, error) {
	out, err := s.stack.Outputs(ctx)
	return out, classify(ctx, "outputs", s.opts.StackName, s.backend, err)
}

// eventDrainTimeout bounds the wait for the last events after an operation.
const eventDrainTimeout = 2 * time.Second

// wrap gives the inline program what an inline run lacks: the stack's
// configuration keys (config.Load refuses unknown ones); the operation's
// cleanup list, so that what the program holds in this process (its SSH
// tunnel) is released when the operation ends, and only this Stack's; with
// a PluginDir, the mark that the readiness provider is served from there,
// so the program does not judge a build on PATH the engine will not use;
// for refresh and destroy, no preflight: those must work on a stack whose
// version or node type Scaleway no longer offers for new resources, or
// whose parts are gone; and, for destroy and for a refresh with GitLab
// gone, the GitLab provider without its early auth check and, for destroy,
// the Kubernetes providers with deleteUnreachable (destroyTransform).
func (s *Stack) wrap(program pulumi.RunFunc) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		ctx = stackconfig.WithConfiguredKeys(ctx, s.configuredKeys)
		ctx = cleanup.With(ctx, s.cleanups)
		if s.opts.PluginDir != "" {
			ctx = plugins.WithServedProvider(ctx)
		}
		if s.op == "refresh" || s.op == "destroy" {
			ctx = stack.WithoutPreflight(ctx, s.op+" creates nothing")
		}
		if s.op == "destroy" || s.gitlabGone {
			if err := ctx.RegisterResourceTransform(destroyTransform(s.op == "destroy")); err != nil {
				return fmt.Errorf("set the providers up for %s (destroyTransform): %w", s.op, err)
			}
		}
		return program(ctx)
	}
}

// run runs one engine operation, feeding Options.Events from a channel of
// its own, and maps its error. When the operation ends, also by failing or
// being cancelled, it runs the cleanups the program registered during it;
// a cleanup's failure is joined to the operation's error. After a cancelled
// operation it removes the lock the CLI may have left when it had to be
// killed.
func (s *Stack) run(ctx context.Context, op string, f func(chan<- events.EngineEvent) error) (err error) {
	s.op = op
	s.gitlabGone = false
	cleanups := &cleanup.List{}
	s.cleanups = cleanups
	defer func() {
		if cerr := cleanups.Run(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s of stack %q: release what the program held in this process: %w", op, s.opts.StackName, cerr))
		}
	}()
	all, err := s.stack.GetAllConfig(ctx)
	if err != nil {
		return classify(ctx, "config", s.opts.StackName, s.backend, err)
	}
	s.configuredKeys = slices.Collect(maps.Keys(all))
	if s.opts.Events == nil {
		err = f(nil)
	} else {
		err = s.withEvents(f)
	}
	if err == nil {
		return nil
	}
	mapped := err
	if !mappedAlready(err) {
		mapped = classify(ctx, op, s.opts.StackName, s.backend, err)
	}
	if errors.Is(mapped, ErrCancelled) {
		if rmErr := removeStaleLocks(s.backend, s.stack.Workspace(), s.opts.StackName); rmErr != nil {
			return errors.Join(mapped, rmErr)
		}
	}
	return mapped
}

// mappedAlready reports whether err is one of this package's own, which
// says what went wrong in full: an *Error, a *ReplaceError, a *BeforeReplaceError.
func mappedAlready(err error) bool {
	_, isErr := errors.AsType[*Error](err)
	_, isReplace := errors.AsType[*ReplaceError](err)
	_, isBefore := errors.AsType[*BeforeReplaceError](err)
	return isErr || isReplace || isBefore
}

// withEvents runs f with a channel whose events go to Options.Events, and
// waits a little for the last ones. The SDK closes the channel once the
// CLI's event stream has ended, before the operation returns; a CLI that
// failed before streaming never opens it, and an EventStreams option of the
// caller's replaces it, so the wait is bounded and the reader then stops.
func (s *Stack) withEvents(f func(chan<- events.EngineEvent) error) error {
	ch := make(chan events.EngineEvent)
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case e, ok := <-ch:
				if !ok {
					return
				}
				s.opts.Events(e)
			case <-stop:
				return
			}
		}
	}()
	err := f(ch)
	select {
	case <-done:
	case <-time.After(eventDrainTimeout):
		close(stop)
	}
	return err
}

func (s *Stack) progress() io.Writer {
	if s.opts.Progress == nil {
		return io.Discard
	}
	return s.opts.Progress
}

func (s *Stack) errorProgress() io.Writer {
	if s.opts.ErrorProgress == nil {
		return io.Discard
	}
	return s.opts.ErrorProgress
}

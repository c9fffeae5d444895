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
func (s *Stack) Preview(ctx context.Context, opts ...optpreview.Option) (auto.PreviewResult, error) {
	return operate(ctx, s, "preview", s.stack.Preview, previewStreams, optpreview.Diff(), opts)
}

// Up creates or updates the stack's resources, with diffs. opts are the
// Automation API's own (optup.Target, Parallel, Message, ...): see Stack.
func (s *Stack) Up(ctx context.Context, opts ...optup.Option) (auto.UpResult, error) {
	return operate(ctx, s, "up", s.stack.Up, upStreams, optup.Diff(), opts)
}

// Refresh reads the resources' real state into the stack. The program
// runs first, so provider settings it computes at run time are current.
// opts are the Automation API's own (optrefresh.Target, ...): see Stack.
func (s *Stack) Refresh(ctx context.Context, opts ...optrefresh.Option) (auto.RefreshResult, error) {
	return operate(ctx, s, "refresh", s.stack.Refresh, refreshStreams, optrefresh.RunProgram(true), opts)
}

// Destroy deletes every resource of the stack; the stack itself and its
// configuration stay. The program runs first, so provider settings it
// computes at run time are current while deleting. opts are the Automation
// API's own (optdestroy.Target, ...): see Stack.
func (s *Stack) Destroy(ctx context.Context, opts ...optdestroy.Option) (auto.DestroyResult, error) {
	return operate(ctx, s, "destroy", s.stack.Destroy, destroyStreams, optdestroy.RunProgram(true), opts)
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
// that the caller's option wins where both set the same thing.
func operate[O, R any](ctx context.Context, s *Stack, op string, call func(context.Context, ...O) (R, error), st streams[O], own O, opts []O) (R, error) {
	var res R
	err := s.run(ctx, op, func(ch chan<- events.EngineEvent) error {
		all := []O{own, st.progress(s.progress()), st.errorProgress(s.errorProgress())}
		if ch != nil {
			all = append(all, st.events(ch))
		}
		var err error
		res, err = call(ctx, append(all, opts...)...)
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
// and, for refresh and destroy, no preflight: those must work on a stack
// whose version or node type Scaleway no longer offers for new resources,
// or whose parts are gone.
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
	mapped := classify(ctx, op, s.opts.StackName, s.backend, err)
	if errors.Is(mapped, ErrCancelled) {
		if rmErr := removeStaleLocks(s.backend, s.stack.Workspace(), s.opts.StackName); rmErr != nil {
			return errors.Join(mapped, rmErr)
		}
	}
	return mapped
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

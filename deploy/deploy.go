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
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/tunnel"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

// Stack is one opened stack of the program. Its methods run one engine
// operation each; it is safe to use from one goroutine at a time (open two
// Stacks to run operations side by side, which the stack's lock then
// refuses).
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
	for k, v := range opts.Env {
		env[k] = v
	}
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
		if err := checkPluginDir(dir, proj, opts.PluginDir); err != nil {
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
		if opts.PluginDir != "" {
			abs, err := filepath.Abs(opts.PluginDir)
			if err != nil {
				return nil, fmt.Errorf("plugin folder %s: %w", opts.PluginDir, err)
			}
			proj.Plugins = &workspace.Plugins{Providers: []workspace.PluginOptions{{Name: "gitlabwait", Path: abs}}}
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

// checkPluginDir makes sure the plugin folder Pulumi.yaml names exists (the
// engine refuses a missing one) and agrees with Options.PluginDir.
func checkPluginDir(dir string, proj *workspace.Project, want string) error {
	if proj.Plugins == nil {
		return nil
	}
	for _, p := range proj.Plugins.Providers {
		path := p.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if want != "" {
			w, err := filepath.Abs(want)
			if err != nil {
				return err
			}
			if p.Name == "gitlabwait" && filepath.Clean(w) != filepath.Clean(path) {
				return fmt.Errorf("plugin folder %s differs from %s, which Pulumi.yaml names for %s: build the provider there or leave the plugin folder unset", want, path, p.Name)
			}
		}
		if err := os.MkdirAll(path, 0o755); err != nil {
			return fmt.Errorf("create the plugin folder %s that Pulumi.yaml names: %w", path, err)
		}
	}
	return nil
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
// property in the progress output.
func (s *Stack) Preview(ctx context.Context) (auto.PreviewResult, error) {
	var res auto.PreviewResult
	err := s.run(ctx, "preview", func(ch chan<- events.EngineEvent) error {
		opts := []optpreview.Option{optpreview.Diff(), optpreview.ProgressStreams(s.progress()), optpreview.ErrorProgressStreams(s.errorProgress())}
		if ch != nil {
			opts = append(opts, optpreview.EventStreams(ch))
		}
		var err error
		res, err = s.stack.Preview(ctx, opts...)
		return err
	})
	return res, err
}

// Up creates or updates the stack's resources.
func (s *Stack) Up(ctx context.Context) (auto.UpResult, error) {
	var res auto.UpResult
	err := s.run(ctx, "up", func(ch chan<- events.EngineEvent) error {
		opts := []optup.Option{optup.Diff(), optup.ProgressStreams(s.progress()), optup.ErrorProgressStreams(s.errorProgress())}
		if ch != nil {
			opts = append(opts, optup.EventStreams(ch))
		}
		var err error
		res, err = s.stack.Up(ctx, opts...)
		return err
	})
	return res, err
}

// Refresh reads the resources' real state into the stack. The program
// runs first, so provider settings it computes at run time are current.
func (s *Stack) Refresh(ctx context.Context) (auto.RefreshResult, error) {
	var res auto.RefreshResult
	err := s.run(ctx, "refresh", func(ch chan<- events.EngineEvent) error {
		opts := []optrefresh.Option{optrefresh.RunProgram(true), optrefresh.ProgressStreams(s.progress()), optrefresh.ErrorProgressStreams(s.errorProgress())}
		if ch != nil {
			opts = append(opts, optrefresh.EventStreams(ch))
		}
		var err error
		res, err = s.stack.Refresh(ctx, opts...)
		return err
	})
	return res, err
}

// Destroy deletes every resource of the stack; the stack itself and its
// configuration stay. The program runs first, so provider settings it
// computes at run time are current while deleting.
func (s *Stack) Destroy(ctx context.Context) (auto.DestroyResult, error) {
	var res auto.DestroyResult
	err := s.run(ctx, "destroy", func(ch chan<- events.EngineEvent) error {
		opts := []optdestroy.Option{optdestroy.RunProgram(true), optdestroy.ProgressStreams(s.progress()), optdestroy.ErrorProgressStreams(s.errorProgress())}
		if ch != nil {
			opts = append(opts, optdestroy.EventStreams(ch))
		}
		var err error
		res, err = s.stack.Destroy(ctx, opts...)
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

// run runs one engine operation, feeding Options.Events from a channel of
// its own, and maps its error. After a cancelled operation it removes the
// lock the CLI may have left when it had to be killed.
// wrap gives the inline program what an inline run lacks: the stack's
// configuration keys (config.Load refuses unknown ones), and, for refresh and
// destroy, no preflight: those must work on a stack whose version or node
// type Scaleway no longer offers for new resources, or whose parts are gone.
func (s *Stack) wrap(program pulumi.RunFunc) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		ctx = stackconfig.WithConfiguredKeys(ctx, s.configuredKeys)
		if s.op == "refresh" || s.op == "destroy" {
			ctx = stack.WithoutPreflight(ctx, s.op+" creates nothing")
		}
		return program(ctx)
	}
}

func (s *Stack) run(ctx context.Context, op string, f func(chan<- events.EngineEvent) error) error {
	s.op = op
	// The inline program opens its SSH tunnel to GitLab in this process, on
	// the stack's fixed port: release it when the operation is over.
	defer func() { _ = tunnel.CloseShared() }()
	if op != "outputs" {
		all, err := s.stack.GetAllConfig(ctx)
		if err != nil {
			return classify(ctx, "config", s.opts.StackName, s.backend, err)
		}
		s.configuredKeys = slices.Collect(maps.Keys(all))
	}
	var ch chan events.EngineEvent
	done := make(chan struct{})
	if s.opts.Events != nil {
		ch = make(chan events.EngineEvent)
		go func() {
			defer close(done)
			for e := range ch {
				s.opts.Events(e)
			}
		}()
	}
	var err error
	if ch != nil {
		err = f(ch)
		// The SDK closes the channel once the CLI's event stream has
		// ended, before the operation returns; a CLI that failed before
		// streaming never opens it, so do not wait long for that.
		select {
		case <-done:
		case <-time.After(eventDrainTimeout):
		}
	} else {
		err = f(nil)
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

package deploy

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/cleanup"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// partsProgram registers one component per name: resources that need no
// plugin.
func partsProgram(names ...string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		for _, name := range names {
			var part pulumi.ResourceState
			if err := ctx.RegisterComponentResource("glktest:index:Part", name, &part); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestOperationOptionsReachTheEngine: the Automation API's own options
// given to an operation reach the engine: a Message lands in the stack's
// history, a Target limits what up creates and what destroy deletes.
func TestOperationOptionsReachTheEngine(t *testing.T) {
	eng := harness.NewEngine(t)
	var log syncBuffer
	s, err := deploy.Open(t.Context(), options(t, eng, "options", partsProgram("a", "b"), &log))
	require.NoError(t, err)
	defer s.Close()
	urn := func(name string) string {
		return "urn:pulumi:options::" + testProject + "::glktest:index:Part::" + name
	}

	pre, err := s.Preview(t.Context(), optpreview.Target([]string{urn("a")}))
	require.NoError(t, err, log.String())
	assert.Equal(t, 2, pre.ChangeSummary["create"], "the stack and the target: %v", pre.ChangeSummary)
	assert.Equal(t, 1, pre.ChangeSummary["same"], "the other part is left: %v", pre.ChangeSummary)

	up, err := s.Up(t.Context(), optup.Message("release 42"), optup.Target([]string{urn("a")}), optup.Parallel(1))
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"create": 2}, harness.Changed(up.Summary), "the stack and the target")
	history, err := s.Auto().History(t.Context(), 1, 1)
	require.NoError(t, err)
	require.Len(t, history, 1)
	// Contains: the Automation API passes --message=%q, so the CLI keeps
	// the quotes ("\"release 42\"" in v3.274.1's sdk/go/auto/stack.go).
	assert.Contains(t, history[0].Message, "release 42")

	up, err = s.Up(t.Context())
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"create": 1}, harness.Changed(up.Summary), "the untargeted part comes next")

	des, err := s.Destroy(t.Context(), optdestroy.Target([]string{urn("b")}))
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"delete": 1}, harness.Changed(des.Summary), "only the target is deleted")
	_, err = s.Destroy(t.Context())
	require.NoError(t, err, log.String())
}

// released records the cleanups that ran, in order.
type released struct {
	mu  sync.Mutex
	ran []string
}

func (r *released) add(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ran = append(r.ran, name)
}

func (r *released) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ran := r.ran
	r.ran = nil
	return ran
}

// TestCleanupsRunAfterEachOperationAndDoNotCross: what the program
// registers is released when its operation ends, also when the program
// fails, and only by its own Stack, when two run side by side in one
// process; a cleanup's failure is the operation's error.
func TestCleanupsRunAfterEachOperationAndDoNotCross(t *testing.T) {
	eng := harness.NewEngine(t)
	var r released
	var failProgram, failCleanup sync.Map // stack name -> true
	program := func(name string) pulumi.RunFunc {
		return func(ctx *pulumi.Context) error {
			if !cleanup.Register(ctx, func() error {
				r.add(name)
				if _, ok := failCleanup.Load(name); ok {
					return errors.New("close the tunnel of " + name)
				}
				return nil
			}) {
				return errors.New("no driver collects the cleanups")
			}
			if _, ok := failProgram.Load(name); ok {
				return errors.New("the program of " + name + " failed")
			}
			return partsProgram("part")(ctx)
		}
	}
	var log syncBuffer
	stacks := map[string]*deploy.Stack{}
	for _, name := range []string{"alpha", "beta"} {
		s, err := deploy.Open(t.Context(), options(t, eng, name, program(name), &log))
		require.NoError(t, err)
		defer s.Close()
		stacks[name] = s
	}

	_, err := stacks["alpha"].Preview(t.Context())
	require.NoError(t, err, log.String())
	assert.Equal(t, []string{"alpha"}, r.take(), "the preview's cleanup ran when it ended")

	// Side by side: each operation releases its own program's, once.
	var wg sync.WaitGroup
	for name, s := range stacks {
		wg.Go(func() {
			_, err := s.Up(t.Context())
			assert.NoError(t, err, "%s: %s", name, log.String())
		})
	}
	wg.Wait()
	ran := r.take()
	slices.Sort(ran)
	assert.Equal(t, []string{"alpha", "beta"}, ran)

	failProgram.Store("beta", true)
	_, err = stacks["beta"].Up(t.Context())
	require.ErrorContains(t, err, "the program of beta failed")
	assert.Equal(t, []string{"beta"}, r.take(), "a failed operation releases too")
	failProgram.Delete("beta")

	failCleanup.Store("alpha", true)
	_, err = stacks["alpha"].Refresh(t.Context())
	require.ErrorContains(t, err, `refresh of stack "alpha": release what the program held in this process: close the tunnel of alpha`)
	assert.Equal(t, []string{"alpha"}, r.take())
	failCleanup.Delete("alpha")

	for name, s := range stacks {
		_, err := s.Destroy(t.Context())
		require.NoError(t, err, "%s: %s", name, log.String())
	}
	ran = r.take()
	slices.Sort(ran)
	assert.Equal(t, []string{"alpha", "beta"}, ran)
}

// TestCommandBinaryServesTheProvider: the built command, with no Go
// toolchain on PATH, is the readiness provider the engine runs for a
// project read from a folder, whose Pulumi.yaml is the repository's: the
// plugin folder goes on the CLI's PATH, and the wait through the bastion
// succeeds. Told to ignore PATH, deploy refuses before anything runs.
func TestCommandBinaryServesTheProvider(t *testing.T) {
	eng := harness.NewEngine(t)
	b := harness.StartBastion(t)
	g := startReadinessServer(t, true)
	dir := t.TempDir()
	project, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "Pulumi.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), project, 0o600))

	var log syncBuffer
	opts := options(t, eng, "served", waitProgram(b, g, time.Minute), &log)
	opts.Project, opts.WorkDir, opts.ProjectDir = "", "", dir
	opts.Config = deploy.Config{"glktest:instance": deploy.Plain("i-1"), "glktest:rootPassword": deploy.Secret("s3cret-s3cret")}
	for _, d := range filepath.SplitList(opts.Env["PATH"]) {
		require.NoFileExists(t, filepath.Join(d, "go"), "the CLI's PATH has no Go toolchain")
	}

	refused := opts
	refused.Env = maps.Clone(opts.Env)
	refused.Env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "true"
	_, err = deploy.Open(t.Context(), refused)
	require.ErrorContains(t, err, "PULUMI_IGNORE_AMBIENT_PLUGINS is set, so the engine would not look for pulumi-resource-gitlabwait in the plugin folder")

	delete(opts.Env, "PULUMI_IGNORE_AMBIENT_PLUGINS")
	s, err := deploy.Open(t.Context(), opts)
	require.NoError(t, err)
	defer s.Close()
	up, err := s.Up(t.Context())
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"create": 2}, harness.Changed(up.Summary), "the stack and GitLabReady")
	assert.NotEmpty(t, up.Outputs["readyAt"].Value, "GitLab was waited for")
	assert.Positive(t, b.Connections(), "through the bastion")
	assert.Contains(t, log.String(), "using pulumi-resource-gitlabwait from $PATH at "+filepath.Join(opts.PluginDir, "pulumi-resource-gitlabwait"),
		"the engine found the command's link on PATH")
	_, err = s.Destroy(t.Context())
	require.NoError(t, err, log.String())
}

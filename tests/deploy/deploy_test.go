package deploy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pconfig "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// waitProgram is a small stand-in for stack.Deploy: a GitLabReady wait
// through the bastion, whose instanceId comes from the config key
// glktest:instance, and a secret config value exported as a secret.
func waitProgram(b *harness.Bastion, g *readinessServer, timeout time.Duration) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg := pconfig.New(ctx, testProject)
		r, err := gitlabwait.NewGitLabReady(ctx, "gitlab", &gitlabwait.GitLabReadyArgs{
			Access:     b.Access(g.host, g.port, timeout, 300*time.Millisecond),
			InstanceId: pulumi.String(cfg.Require("instance")),
		})
		if err != nil {
			return err
		}
		ctx.Export("readyAt", r.ReadyAt)
		ctx.Export("rootPassword", cfg.RequireSecret("rootPassword"))
		return nil
	}
}

// stateFiles returns the content of every file in a file backend, joined.
func stateFiles(t *testing.T, backend string) string {
	t.Helper()
	dir, err := deploy.FileBackendDir(backend)
	require.NoError(t, err)
	var all strings.Builder
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		all.Write(b)
		return err
	}))
	return all.String()
}

// TestLifecycle drives the package through the real engine: create, config
// with a secret, preview, up, a second up with no changes, select again
// from a new work folder, a config change previewed as a change of the
// resource it feeds, destroy.
func TestLifecycle(t *testing.T) {
	eng := harness.NewEngine(t)
	b := harness.StartBastion(t)
	g := startReadinessServer(t, true)
	ctx := t.Context()
	const password = "Plaintext-Root-Password-7f3a9c"

	var log syncBuffer
	opts := options(t, eng, "lifecycle", waitProgram(b, g, time.Minute), &log)
	var mu sync.Mutex
	var seen []events.EngineEvent
	opts.Events = func(e events.EngineEvent) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, e)
	}
	opts.Config = deploy.Config{
		"glktest:instance":     deploy.Plain("instance-1"),
		"glktest:rootPassword": deploy.Secret(password),
	}
	s, err := deploy.Open(ctx, opts)
	require.NoError(t, err)
	defer s.Close()

	// Config round trip: the secret reads back, marked secret.
	v, err := s.Auto().GetConfig(ctx, "glktest:rootPassword")
	require.NoError(t, err)
	assert.True(t, v.Secret)
	assert.Equal(t, password, v.Value)

	pre, err := s.Preview(ctx)
	require.NoError(t, err, log.String())
	assert.Equal(t, 2, pre.ChangeSummary["create"], "the stack and GitLabReady")
	assert.Zero(t, b.Connections(), "a preview dials nothing")
	mu.Lock()
	assert.NotEmpty(t, seen, "preview sent engine events")
	var summary bool
	for _, e := range seen {
		summary = summary || e.SummaryEvent != nil
	}
	seen = nil
	mu.Unlock()
	assert.True(t, summary, "the events end with a summary")

	up, err := s.Up(ctx)
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"create": 2}, harness.Changed(up.Summary))
	assert.True(t, up.Outputs["rootPassword"].Secret, "the secret output stays secret")
	assert.Equal(t, password, up.Outputs["rootPassword"].Value)
	assert.NotEmpty(t, up.Outputs["readyAt"].Value)
	assert.NotContains(t, log.String(), password, "the progress never shows the secret")

	state := stateFiles(t, eng.Backend)
	assert.Contains(t, state, "glktest", "the state is in the backend")
	assert.NotContains(t, state, password, "the secret is encrypted in the state")
	assert.NotContains(t, state, "BEGIN OPENSSH PRIVATE KEY", "the bastion key is encrypted in the state")

	again, err := s.Up(ctx)
	require.NoError(t, err, log.String())
	assert.Empty(t, harness.Changed(again.Summary), "a second up changes nothing")
	require.NoError(t, s.Close())

	// Opened again, as a new run would, the stack keeps its configuration
	// and its secrets decrypt; instance changes.
	log.Reset()
	opts.Config = deploy.Config{"glktest:instance": deploy.Plain("instance-2")}
	opts.Events = nil
	s2, err := deploy.OpenExisting(ctx, opts)
	require.NoError(t, err)
	defer s2.Close()
	outs, err := s2.Outputs(ctx)
	require.NoError(t, err)
	assert.Equal(t, password, outs["rootPassword"].Value)
	conf, err := s2.Auto().GetAllConfig(ctx)
	require.NoError(t, err)
	assert.Equal(t, password, conf["glktest:rootPassword"].Value, "the secret config persists")
	files, err := filepath.Glob(filepath.Join(opts.WorkDir, "Pulumi.lifecycle.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 1, "the stack's config file")
	cf, err := os.ReadFile(files[0])
	require.NoError(t, err)
	assert.Contains(t, string(cf), "secure:", "the secret is encrypted in the config file")
	assert.NotContains(t, string(cf), password)

	// The changed key shows as a change of GitLabReady, with its diff.
	pre, err = s2.Preview(ctx)
	require.NoError(t, err, log.String())
	assert.Equal(t, 1, pre.ChangeSummary["replace"], "a new instance is waited for again: %v", pre.ChangeSummary)
	assert.Contains(t, log.String(), "instanceId")
	assert.Contains(t, log.String(), `"instance-1" => "instance-2"`)
	assert.Contains(t, log.String(), "gitlabwait:index:GitLabReady")
	assert.NotContains(t, log.String(), password)

	log.Reset()
	ref, err := s2.Refresh(ctx)
	require.NoError(t, err, log.String())
	assert.Empty(t, harness.Changed(ref.Summary), "nothing drifted")

	des, err := s2.Destroy(ctx)
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"delete": 2}, harness.Changed(des.Summary))
	outs, err = s2.Outputs(ctx)
	require.NoError(t, err)
	assert.Empty(t, outs)
}

// TestConcurrentOperationIsRefusedAndCancelLeavesNoLock holds the lock with
// an up that waits for a GitLab that never gets ready, checks that a second
// up is refused with ErrLocked, cancels the first and checks that no lock
// is left: the next up runs.
func TestConcurrentOperationIsRefusedAndCancelLeavesNoLock(t *testing.T) {
	eng := harness.NewEngine(t)
	b := harness.StartBastion(t)
	g := startReadinessServer(t, false)
	var log1, log2 syncBuffer
	cfg := deploy.Config{"glktest:instance": deploy.Plain("i-1"), "glktest:rootPassword": deploy.Secret("s3cret-s3cret")}

	opts1 := options(t, eng, "locked", waitProgram(b, g, 5*time.Minute), &log1)
	opts1.Config = cfg
	first, err := deploy.Open(t.Context(), opts1)
	require.NoError(t, err)
	defer first.Close()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := first.Up(ctx)
		done <- err
	}()
	require.Eventually(t, func() bool { return g.requests.Load() > 0 }, 2*time.Minute, 100*time.Millisecond,
		"the first up never started waiting:\n%s", log1.String())

	opts2 := options(t, eng, "locked", waitProgram(b, g, 5*time.Minute), &log2)
	second, err := deploy.OpenExisting(t.Context(), opts2)
	require.NoError(t, err)
	defer second.Close()
	_, err = second.Up(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, deploy.ErrLocked)
	assert.Contains(t, err.Error(), "pulumi cancel")
	assert.NotContains(t, err.Error(), "stdout:", "the message is short; the CLI output is in the progress")

	dir, err := deploy.FileBackendDir(eng.Backend)
	require.NoError(t, err)
	locks, err := deploy.StackLocks(dir, testProject, "locked")
	require.NoError(t, err)
	assert.Len(t, locks, 1, "the first up holds the lock")

	start := time.Now()
	cancel()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("up did not return within a minute of the cancel:\n%s", log1.String())
	}
	t.Logf("up returned %s after the cancel", time.Since(start).Round(time.Millisecond))
	require.Error(t, err)
	assert.ErrorIs(t, err, deploy.ErrCancelled)
	assert.ErrorIs(t, err, context.Canceled)

	locks, err = deploy.StackLocks(dir, testProject, "locked")
	require.NoError(t, err)
	assert.Empty(t, locks, "cancel leaves no lock")

	// The stack is usable at once: GitLab is ready now, and up finishes.
	g.ready.Store(true)
	log2.Reset()
	up, err := second.Up(t.Context())
	require.NoError(t, err, log2.String())
	assert.Equal(t, "succeeded", up.Summary.Result)
	_, err = second.Destroy(t.Context())
	require.NoError(t, err, log2.String())
}

// TestUnknownStack: selecting a stack the backend lacks fails with ErrNoStack.
func TestUnknownStack(t *testing.T) {
	eng := harness.NewEngine(t)
	opts := options(t, eng, "nosuchstack", func(*pulumi.Context) error { return nil }, nil)
	_, err := deploy.OpenExisting(t.Context(), opts)
	require.Error(t, err)
	assert.ErrorIs(t, err, deploy.ErrNoStack)
	assert.Contains(t, err.Error(), `"nosuchstack"`)
	assert.Contains(t, err.Error(), "`up` creates it")
}

// TestBadBackend: a malformed or missing backend is refused before the CLI runs.
func TestBadBackend(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for backend, want := range map[string]string{
		"ftp://example.org/state":       `unknown scheme "ftp"`,
		"file://relative/path":          "not an absolute path",
		"file://" + missing:             "does not exist",
		"state-folder-without-a-scheme": "is not a URL",
		"s3://":                         "names no bucket",
	} {
		_, err := deploy.Open(t.Context(), deploy.Options{StackName: "dev", Backend: backend, Program: func(*pulumi.Context) error { return nil }})
		require.Error(t, err, backend)
		assert.True(t, errors.Is(err, deploy.ErrBackend), "%s: %v", backend, err)
		assert.Contains(t, err.Error(), want, backend)
	}
}

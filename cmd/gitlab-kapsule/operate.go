package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/offline"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
)

func plan(stdout io.Writer, o options) error {
	return offline.Plan(stdout, o.dir, o.stack, stack.Deploy)
}

// operate runs up, preview or destroy on the stack through the Automation API.
func operate(ctx context.Context, cmd string, o options, stdout, stderr io.Writer) error {
	if missing := missingVars(o); len(missing) > 0 {
		return explainMissing(stdout, o, missing)
	}
	if err := requirePulumiCLI(); err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := buildReadinessProvider(ctx, dir, stderr); err != nil {
		return err
	}
	backend := o.backend
	if backend == "" {
		if backend, err = defaultBackend(); err != nil {
			return err
		}
	}
	s, err := auto.UpsertStackInlineSource(ctx, o.stack, "gitlab-kapsule", stack.Deploy,
		auto.WorkDir(dir),
		auto.EnvVars(map[string]string{"PULUMI_BACKEND_URL": backend}))
	if err != nil {
		return fmt.Errorf("select stack %q on %s: %w", o.stack, backend, err)
	}
	switch cmd {
	case "up":
		_, err = s.Up(ctx, optup.ProgressStreams(stdout), optup.ErrorProgressStreams(stderr))
	case "preview":
		_, err = s.Preview(ctx, optpreview.Diff(), optpreview.ProgressStreams(stdout), optpreview.ErrorProgressStreams(stderr))
	case "destroy":
		// The program runs first, so provider settings computed at run time
		// (such as a tunnel's address) are current while deleting.
		_, err = s.Destroy(ctx, optdestroy.RunProgram(true), optdestroy.ProgressStreams(stdout), optdestroy.ErrorProgressStreams(stderr))
	}
	if err != nil {
		return fmt.Errorf("%s of stack %q: %w", cmd, o.stack, err)
	}
	return nil
}

// buildReadinessProvider builds the project's own provider plugin where
// Pulumi.yaml says the engine finds it (plugins.providers: ./bin).
func buildReadinessProvider(ctx context.Context, dir string, stderr io.Writer) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "bin", "pulumi-resource-gitlabwait"), "./provider/cmd/pulumi-resource-gitlabwait")
	build.Dir = dir
	build.Stdout, build.Stderr = stderr, stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build the readiness provider (go build ./provider/cmd/pulumi-resource-gitlabwait in %s): %w", dir, err)
	}
	return nil
}

// defaultBackend is a file backend under the user's home, so no account at
// any Pulumi service is needed.
func defaultBackend() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home folder for the default state backend (or pass --backend): %w", err)
	}
	dir := filepath.Join(home, ".gitlab-kapsule", "state")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create the state folder %s: %w", dir, err)
	}
	return "file://" + dir, nil
}

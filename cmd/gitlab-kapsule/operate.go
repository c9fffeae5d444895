package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/offline"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

func cmdPlan(_ context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	if _, err := parseCommand("plan", o, args, stderr, 0, nil); err != nil {
		return err
	}
	return planOffline(stdout, o)
}

// planOffline prints the offline plan of o's stack, which needs its stack
// file: without one the plan would be the defaults, most likely of a
// mistyped --stack.
func planOffline(stdout io.Writer, o *options) error {
	if err := checkStackFile(o); err != nil {
		return err
	}
	return offline.Plan(stdout, o.dir, o.stack, stack.Deploy)
}

// cmdOperate runs up, preview, refresh or destroy through package deploy.
func cmdOperate(op string) func(context.Context, *options, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
		var jsonEvents bool
		if _, err := parseCommand(op, o, args, stderr, 0, func(fs *flag.FlagSet) {
			fs.BoolVar(&jsonEvents, "json", false, "print the engine's events as JSON lines on stdout instead of progress, for a machine")
		}); err != nil {
			return err
		}
		if missing := missingVars(o, true); len(missing) > 0 {
			return explainMissing(stdout, o, missing)
		}
		s, err := openStack(ctx, o, stdout, stderr, jsonEvents, op == "up" || op == "preview")
		if err != nil {
			return err
		}
		defer s.Close()
		switch op {
		case "up":
			_, err = s.Up(ctx)
		case "preview":
			_, err = s.Preview(ctx)
		case "refresh":
			_, err = s.Refresh(ctx)
		case "destroy":
			_, err = s.Destroy(ctx)
		}
		return err
	}
}

// openStack builds the readiness provider where Pulumi.yaml points the
// engine and opens the stack: created when create is set (refused when
// neither the stack nor its Pulumi.<stack>.yaml exists), else it must exist.
func openStack(ctx context.Context, o *options, stdout, stderr io.Writer, jsonEvents, create bool) (*deploy.Stack, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	if err := checkBackendFlag(o); err != nil {
		return nil, err
	}
	cli, err := deploy.FindPulumi(ctx, o.installPulumi)
	if err != nil {
		return nil, err
	}
	opts := deploy.Options{
		StackName:     o.stack,
		Backend:       o.backend,
		ProjectDir:    dir,
		Command:       cli,
		Progress:      stdout,
		ErrorProgress: stderr,
	}
	if jsonEvents {
		opts.Progress = nil
		opts.Events = deploy.JSONEvents(stdout)
	}
	if create {
		if err := checkNewStack(ctx, o, opts, stderr); err != nil {
			return nil, err
		}
	}
	if err := buildReadinessProvider(ctx, dir, stderr); err != nil {
		return nil, err
	}
	if create {
		return deploy.Open(ctx, opts)
	}
	return deploy.OpenExisting(ctx, opts)
}

// checkNewStack refuses to create a stack that has no Pulumi.<stack>.yaml
// in --dir, before anything is created. On the defaults nothing names its
// operators (no network:sshPublicKey, the bastion open to the whole
// internet), and it is most likely a mistyped --stack that would deploy a
// second, billed environment (or, for preview, leave an empty stack and a
// stack file behind that make the typo look deliberate). A stack already on
// the backend goes on with a one-line notice: its settings may be kept
// there, and the diff shows what the defaults would change.
func checkNewStack(ctx context.Context, o *options, opts deploy.Options, stderr io.Writer) error {
	noFile := checkStackFile(o)
	if _, ok := errors.AsType[*noStackFileError](noFile); !ok {
		return noFile
	}
	s, err := deploy.OpenExisting(ctx, opts)
	if errors.Is(err, deploy.ErrNoStack) {
		return noFile
	}
	if err != nil {
		return err
	}
	_ = s.Close()
	fmt.Fprintf(stderr, "%snotice: no %s in %s: stack %q exists on the backend, so every key it does not keep takes its default: check the diff\n",
		errorPrefix, stackFileName(o.stack), o.dir, o.stack)
	return nil
}

// buildReadinessProvider builds the project's own provider plugin where
// Pulumi.yaml says the engine finds it (plugins.providers: ./bin).
func buildReadinessProvider(ctx context.Context, dir string, stderr io.Writer) error {
	if _, err := exec.LookPath("go"); err != nil {
		return fmt.Errorf("%w: go is not on PATH: it builds the readiness provider (pulumi-resource-gitlabwait); install Go 1.26", errMissing)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "bin", "pulumi-resource-gitlabwait"), "./provider/cmd/pulumi-resource-gitlabwait")
	build.Dir = dir
	build.Stdout, build.Stderr = stderr, stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build the readiness provider (go build ./provider/cmd/pulumi-resource-gitlabwait in %s): %w", dir, err)
	}
	return nil
}

// checkBackendFlag refuses a bad --backend before anything runs.
func checkBackendFlag(o *options) error {
	if o.backend == "" {
		return nil
	}
	return deploy.CheckBackend(o.backend)
}

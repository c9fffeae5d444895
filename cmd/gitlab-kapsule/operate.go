package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

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
	return func(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) (err error) {
		var jsonEvents, allowReplace, noBackup, reconfigure bool
		var ef engineFlags
		if _, err := parseCommand(op, o, args, stderr, 0, func(fs *flag.FlagSet) {
			fs.BoolVar(&jsonEvents, "json", false, "print the engine's events as JSON lines on stdout instead of progress, for a machine")
			ef.register(fs)
			if op == "up" {
				fs.BoolVar(&allowReplace, strings.TrimPrefix(deploy.AllowReplaceFlag, "--"), false,
					"let up replace or delete the GitLab server, its data volume, the private network, GitLab's reserved address, a Kapsule cluster or the backup bucket, "+
						"which it otherwise refuses after a preview, naming each; the server or the volume is backed up first, on the old host, when the stack has a backup bucket")
				fs.BoolVar(&noBackup, strings.TrimPrefix(noBackupFlag, "--"), false,
					"with "+deploy.AllowReplaceFlag+", replace the GitLab server or its data volume without backing GitLab up first (the host is gone or cannot back up); "+
						"a data volume replaced so loses GitLab's data")
				fs.BoolVar(&reconfigure, "reconfigure", false,
					"run the GitLab host's configuration again even when nothing changed (after a restore, which brings back the backup's root password and token)")
			}
		}); err != nil {
			return err
		}
		if noBackup && !allowReplace {
			return fmt.Errorf("%s goes with %s: it skips the backup that precedes a replacement: %w", noBackupFlag, deploy.AllowReplaceFlag, errUsage)
		}
		if missing := missingVars(o, true); len(missing) > 0 {
			return explainMissing(stdout, o, missing)
		}
		pluginDir, removePlugin, err := readinessProvider()
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, removePlugin()) }()
		s, err := openStack(ctx, o, stdout, stderr, jsonEvents, op == "up" || op == "preview", pluginDir, replaceOptions(o, stderr, allowReplace, noBackup))
		if err != nil {
			return err
		}
		defer s.Close()
		switch op {
		case "up":
			upOpts := engineOptions(ef, optup.Target, optup.Parallel, optup.Message)
			if reconfigure {
				upOpts = append(upOpts, optup.Replace([]string{stack.HostConfigurationURN(o.stack, deploy.ProjectName)}))
			}
			_, err = s.Up(ctx, upOpts...)
		case "preview":
			_, err = s.Preview(ctx, engineOptions(ef, optpreview.Target, optpreview.Parallel, optpreview.Message)...)
		case "refresh":
			_, err = s.Refresh(ctx, engineOptions(ef, optrefresh.Target, optrefresh.Parallel, optrefresh.Message)...)
		case "destroy":
			_, err = s.Destroy(ctx, engineOptions(ef, optdestroy.Target, optdestroy.Parallel, optdestroy.Message)...)
		}
		return err
	}
}

// replaceOptions sets up's answer to a replacement of a guarded resource:
// refused, or with --allow-replace allowed after backupBeforeReplace.
func replaceOptions(o *options, stderr io.Writer, allowReplace, noBackup bool) func(*deploy.Options) {
	return func(opts *deploy.Options) {
		opts.AllowReplace = allowReplace
		if allowReplace {
			opts.BeforeReplace = backupBeforeReplace(o, stderr, noBackup)
		}
	}
}

// engineFlags are the engine's options that up, preview, refresh and
// destroy take, as `pulumi` does.
type engineFlags struct {
	targets  []string
	parallel int
	message  string
}

// urnPrefix starts every resource URN.
const urnPrefix = "urn:pulumi:"

// register adds the flags to fs.
func (f *engineFlags) register(fs *flag.FlagSet) {
	fs.Func("target", "operate only on the resource with this `URN` (repeatable; preview's diff prints each resource's [urn=...])", func(v string) error {
		if !strings.HasPrefix(v, urnPrefix) {
			return fmt.Errorf("%q is not a resource URN: give urn:pulumi:STACK::PROJECT::TYPE::NAME, as preview's diff prints it", v)
		}
		f.targets = append(f.targets, v)
		return nil
	})
	fs.Func("parallel", "run at most `N` resource operations at once (default: the engine's)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errors.New("give a whole number, at least 1")
		}
		f.parallel = n
		return nil
	})
	fs.StringVar(&f.message, "message", "", "keep `TEXT` with the update in the stack's history")
}

// engineOptions are f as the options of one operation's package of the
// Automation API (optup, optpreview, ...), from its constructors.
func engineOptions[O any](f engineFlags, target func([]string) O, parallel func(int) O, message func(string) O) []O {
	var opts []O
	if len(f.targets) > 0 {
		opts = append(opts, target(f.targets))
	}
	if f.parallel > 0 {
		opts = append(opts, parallel(f.parallel))
	}
	if f.message != "" {
		opts = append(opts, message(f.message))
	}
	return opts
}

// readinessProvider makes the plugin folder of this run, where the engine
// starts the readiness provider from this binary (main serves it under the
// plugin's name): no Go toolchain, no build. remove deletes it.
func readinessProvider() (dir string, remove func() error, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("find this command's binary, which serves the readiness provider: %w", err)
	}
	return deploy.ExecutablePluginDir(exe)
}

// openStack opens the stack, with the readiness provider from pluginDir:
// created when create is set (refused when neither the stack nor its
// Pulumi.<stack>.yaml exists), else it must exist. set, when given,
// adjusts the options (up's --allow-replace).
func openStack(ctx context.Context, o *options, stdout, stderr io.Writer, jsonEvents, create bool, pluginDir string, set ...func(*deploy.Options)) (*deploy.Stack, error) {
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
		PluginDir:     pluginDir,
		Command:       cli,
		Progress:      stdout,
		ErrorProgress: stderr,
	}
	if jsonEvents {
		opts.Progress = nil
		opts.Events = deploy.JSONEvents(stdout)
	}
	for _, f := range set {
		f(&opts)
	}
	if !create {
		return deploy.OpenExisting(ctx, opts)
	}
	if err := checkNewStack(ctx, o, opts, stderr); err != nil {
		return nil, err
	}
	return deploy.Open(ctx, opts)
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

// checkBackendFlag refuses a bad --backend before anything runs.
func checkBackendFlag(o *options) error {
	if o.backend == "" {
		return nil
	}
	return deploy.CheckBackend(o.backend)
}

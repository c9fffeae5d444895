// Command gitlab-kapsule deploys the private GitLab and Kapsule stack through
// the Pulumi Automation API (package deploy), running the same program as
// `pulumi up` (stack.Deploy), and helps operate it: outputs, an SSH shell on
// the GitLab host, a tunnel for a browser, and end-to-end checks. Without
// Scaleway credentials it names what is missing and prints an offline plan
// from the mock engine instead. Started as pulumi-resource-gitlabwait, the
// link to itself that each operation puts on the engine's PATH, it serves
// the readiness provider, so a built binary needs no Go toolchain.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
)

// Exit codes: 0 done, 1 the operation failed (or a verify check did), 2 a
// prerequisite is missing (credentials, the Pulumi CLI, the stack, a usable
// backend: nothing was changed), 64 the command line is wrong, 130 the
// operation was interrupted (Ctrl-C) and stopped cleanly.
const (
	exitFailed    = 1
	exitMissing   = 2
	exitUsage     = 64
	exitCancelled = 130
	defaultStack  = "dev"
	errorPrefix   = "gitlab-kapsule: "
	usageSynopsis = "usage: gitlab-kapsule [--stack NAME] [--backend URL] [--dir DIR] COMMAND [FLAGS]"
)

var (
	// errMissing marks a missing prerequisite: exit code 2.
	errMissing = errors.New("missing prerequisite")
	// errUsage marks a wrong command line: exit code 64.
	errUsage = errors.New("usage")
	// errChecksFailed marks a verify run with failed checks: exit code 1.
	errChecksFailed = errors.New("some checks failed")
	// errNoOutputs marks a stack never brought up: exit code 2, one line
	// (nothing was deployed, which is the point).
	errNoOutputs = errors.New("no outputs")
)

// missingSummary ends every exit-2 message.
const missingSummary = "nothing was deployed"

func main() {
	// The engine starts the readiness provider as pulumi-resource-gitlabwait,
	// a link to this binary in the plugin folder of each operation
	// (readinessProvider): serve it then, as the provider's own main does.
	if deploy.IsProviderPlugin(os.Args[0]) {
		if err := deploy.ServeProvider(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the flags every command takes.
type options struct {
	stack, backend, dir string
	// installPulumi lets a missing Pulumi CLI be downloaded.
	installPulumi bool
}

// register adds the common flags to fs, defaulting to o's current values.
func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.stack, "stack", o.stack, "stack name; its configuration is Pulumi.<stack>.yaml in --dir")
	fs.StringVar(&o.backend, "backend", o.backend, "Pulumi backend URL: file:///abs/path, s3://bucket, gs://, azblob://, https://api.pulumi.com (default: a local file backend in ~/.gitlab-kapsule/state)")
	fs.StringVar(&o.dir, "dir", o.dir, "the project folder, holding Pulumi.yaml")
	fs.BoolVar(&o.installPulumi, "install-pulumi", o.installPulumi, "download the Pulumi CLI v"+deploy.PulumiVersion+" when it is missing (needs the internet)")
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error
}

// commands are the subcommands by name (set in init: their functions use it for usage).
var commands map[string]command

func init() {
	commands = map[string]command{
		"up":      {"create or update the stack", cmdOperate("up")},
		"preview": {"show what up would change, with diffs", cmdOperate("preview")},
		"refresh": {"read the real state of the resources into the stack", cmdOperate("refresh")},
		"destroy": {"delete everything the stack created", cmdOperate("destroy")},
		"outputs": {"print the stack's outputs, or with --cluster one cluster's (secrets hidden unless --show-secrets)", cmdOutputs},
		"plan":    {"print the offline plan (mock engine, no cloud, no credentials)", cmdPlan},
		"ssh":     {"print, or with --exec run, the SSH command to the GitLab host through the bastion", cmdSSH},
		"tunnel":  {"forward a local port through the bastion to GitLab's HTTPS port, for a browser", cmdTunnel},
		"verify":  {"check the deployment end to end, for every cluster or each --cluster; each check prints PASS, FAIL or N/A with the reason", cmdVerify},
		"mr-note": {"post a preview's output (a file) as a note on this GitLab CI merge request, replacing the last one", cmdMRNote},
		"backup":  {"back GitLab up now to the stack's bucket (the host's gitlab-kapsule-backup) and print the backup's ID", cmdBackup},
		"restore": {"list the backups, or with an ID restore that one on the GitLab host after confirmation (--yes skips it); then run up", cmdRestore},
	}
}

// synopses follow a command's name on the first line of its -h, naming
// its arguments and own flags; a command without one shows "[FLAGS]".
var synopses = map[string]string{
	"outputs": "[NAME] [--cluster CLUSTER] [--show-secrets] [--json]",
	"verify":  "[--cluster CLUSTER]... [--namespace NS] [--timeout DURATION]",
	"restore": "[ID] [--yes]",
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s\n\ncommands:\n", usageSynopsis)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\n`gitlab-kapsule COMMAND -h` lists a command's flags. Common flags:\n")
	fs.PrintDefaults()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := &options{stack: defaultStack, dir: ".", installPulumi: true}
	fs := flag.NewFlagSet("gitlab-kapsule", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	fs.Usage = func() { usage(stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "%sno command given\n", errorPrefix)
		fs.Usage()
		return exitUsage
	}
	name := fs.Arg(0)
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "%sunknown command %q\n", errorPrefix, name)
		fs.Usage()
		return exitUsage
	}
	err := cmd.run(ctx, o, fs.Args()[1:], stdout, stderr)
	return exitCode(err, stderr)
}

// exitCode prints err and maps it to the exit code.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		if err != errUsage {
			fmt.Fprintf(stderr, "%s%v\n", errorPrefix, strings.TrimSuffix(err.Error(), ": "+errUsage.Error()))
		}
		fmt.Fprintln(stderr, usageSynopsis)
		return exitUsage
	case errors.Is(err, errNoOutputs):
		fmt.Fprintf(stderr, "%s%v\n", errorPrefix, strings.TrimSuffix(err.Error(), ": "+errNoOutputs.Error()))
		return exitMissing
	case errors.Is(err, deploy.ErrCancelled):
		fmt.Fprintf(stderr, "%s%v\n", errorPrefix, err)
		return exitCancelled
	case errors.Is(err, errMissing), errors.Is(err, deploy.ErrNoPulumi), errors.Is(err, deploy.ErrNoStack), errors.Is(err, deploy.ErrBackend):
		if err != errMissing {
			fmt.Fprintf(stderr, "%s%v\n", errorPrefix, strings.TrimPrefix(err.Error(), errMissing.Error()+": "))
		}
		fmt.Fprintf(stderr, "%s%s\n", errorPrefix, missingSummary)
		return exitMissing
	case errors.Is(err, errChecksFailed):
		fmt.Fprintf(stderr, "%s%v\n", errorPrefix, err)
		return exitFailed
	default:
		fmt.Fprintf(stderr, "%s%v\n", errorPrefix, err)
		return exitFailed
	}
}

// parseCommand parses a command's own flags (the common flags are accepted
// after the command too), refuses positional arguments beyond maxArgs, and
// a --dir or --stack that names nothing (checkFlags). Flags end at the
// first argument: what follows it is arguments (ssh's remote command).
func parseCommand(name string, o *options, args []string, stderr io.Writer, maxArgs int, define func(*flag.FlagSet)) (*flag.FlagSet, error) {
	return parseCommandArgs(name, o, args, stderr, maxArgs, false, define)
}

// parseCommandAnyOrder is parseCommand for a command whose flags may also
// follow its arguments (outputs NAME --show-secrets), up to a "--".
func parseCommandAnyOrder(name string, o *options, args []string, stderr io.Writer, maxArgs int, define func(*flag.FlagSet)) (*flag.FlagSet, error) {
	return parseCommandArgs(name, o, args, stderr, maxArgs, true, define)
}

func parseCommandArgs(name string, o *options, args []string, stderr io.Writer, maxArgs int, anyOrder bool, define func(*flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet("gitlab-kapsule "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	if define != nil {
		define(fs)
	}
	fs.Usage = func() {
		synopsis := synopses[name]
		if synopsis == "" {
			synopsis = "[FLAGS]"
		}
		fmt.Fprintf(stderr, "usage: gitlab-kapsule %s %s\n  %s\n\nflags:\n", name, synopsis, commands[name].summary)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, anyOrder); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", name, errUsage)
	}
	if fs.NArg() > maxArgs {
		return nil, fmt.Errorf("%s takes no argument %q: %w", name, fs.Arg(maxArgs), errUsage)
	}
	if err := checkFlags(o); err != nil {
		return nil, err
	}
	return fs, nil
}

// parseFlags parses args into fs. With anyOrder, flags after an argument
// are parsed too, until a "--": fs.Args() are then the arguments alone.
func parseFlags(fs *flag.FlagSet, args []string, anyOrder bool) error {
	if err := fs.Parse(args); err != nil || !anyOrder {
		return err
	}
	var positional []string
	for rest := args; fs.NArg() > 0; {
		// Parse stopped at an argument, or after a "--" that ends the flags.
		if done := len(rest) - fs.NArg(); done > 0 && rest[done-1] == "--" {
			positional = append(positional, fs.Args()...)
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
		if err := fs.Parse(rest); err != nil {
			return err
		}
	}
	// Leave fs.Args() the arguments, setting no flag.
	return fs.Parse(append([]string{"--"}, positional...))
}

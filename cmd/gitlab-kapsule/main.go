// Command gitlab-kapsule deploys the private GitLab and Kapsule stack through
// the Pulumi Automation API, running the same program as `pulumi up`
// (stack.Deploy). Without Scaleway credentials it names what is missing and
// prints an offline plan from the mock engine instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes: 0 done, 1 the operation failed, 2 a prerequisite is missing
// (credentials, the Pulumi CLI), 64 the command line is wrong.
const (
	exitFailed     = 1
	exitMissing    = 2
	exitUsage      = 64
	defaultStack   = "dev"
	usageSynopsis  = "usage: gitlab-kapsule [--stack NAME] [--backend URL] [--dir DIR] up|preview|destroy|plan"
	usageCommands  = "  up       create or update the stack\n  preview  show what up would change, with diffs\n  destroy  delete everything the stack created\n  plan     print the offline plan (mock engine, no cloud, no credentials)"
	errorPrefix    = "gitlab-kapsule: "
	missingSummary = "nothing was deployed"
)

// errMissing marks a missing prerequisite: exit code 2, not a failure of the operation.
var errMissing = errors.New("missing prerequisite")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line's flags.
type options struct {
	stack, backend, dir string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gitlab-kapsule", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.stack, "stack", defaultStack, "stack name; its configuration is Pulumi.<stack>.yaml in --dir")
	fs.StringVar(&o.backend, "backend", "", "Pulumi backend URL (default: a local file backend in ~/.gitlab-kapsule/state)")
	fs.StringVar(&o.dir, "dir", ".", "the project folder, holding Pulumi.yaml")
	fs.Usage = func() { fmt.Fprintf(stderr, "%s\n%s\n\nflags:\n", usageSynopsis, usageCommands); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}

	var err error
	switch cmd := fs.Arg(0); cmd {
	case "plan":
		err = plan(stdout, o)
	case "up", "preview", "destroy":
		err = operate(ctx, cmd, o, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "%sunknown command %q\n", errorPrefix, cmd)
		fs.Usage()
		return exitUsage
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errMissing):
		if err != errMissing {
			fmt.Fprintf(stderr, "%s%v\n", errorPrefix, err)
		}
		fmt.Fprintf(stderr, "%s%s\n", errorPrefix, missingSummary)
		return exitMissing
	default:
		fmt.Fprintf(stderr, "%s%v\n", errorPrefix, err)
		return exitFailed
	}
}

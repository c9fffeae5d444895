package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

func cmdSSH(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	var execute bool
	fs, err := parseCommand("ssh", o, args, stderr, 1<<10, func(fs *flag.FlagSet) {
		fs.BoolVar(&execute, "exec", false, "run the command (a shell on the GitLab host, or the command given after the flags) instead of printing it")
	})
	if err != nil {
		return err
	}
	outs, err := readOutputs(ctx, o)
	if err != nil {
		return err
	}
	line, err := stringOutput(outs, stack.SSHCommand)
	if err != nil {
		return err
	}
	argv := append(strings.Fields(line), fs.Args()...)
	if !execute {
		fmt.Fprintln(stdout, strings.Join(argv, " "))
		return nil
	}
	return runSSH(ctx, argv, os.Stdin, stdout, stderr)
}

// runSSH runs the OpenSSH client with the terminal attached.
func runSSH(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%w: %s is not on PATH: install the OpenSSH client (apt-get install openssh-client), or run the printed command elsewhere", errMissing, argv[0])
	}
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 255 {
			return fmt.Errorf("ssh could not connect (exit 255): is your key in network:sshPublicKey, and your address in network:allowedIpRanges? %w", err)
		}
		return fmt.Errorf("ssh: %w", err)
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

// exitCommandNotFound is the exit status of a shell that found no such
// command (POSIX, "Command Search and Execution").
const exitCommandNotFound = 127

// keepAlive makes OpenSSH check the connection every 30 s (ssh_config(5),
// ServerAliveInterval): a backup or a restore may print nothing for minutes,
// and a silent connection through the bastion and NAT may otherwise be dropped.
var keepAlive = []string{"-o", "ServerAliveInterval=30"}

// hostCommand is the stack's SSH command to the GitLab host (root, through
// the bastion: what `ssh` prints), with keepAlive, running remote on it.
func hostCommand(outs auto.OutputMap, remote string) ([]string, error) {
	line, err := stringOutput(outs, stack.SSHCommand)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(line)
	argv := append(append([]string{f[0]}, keepAlive...), f[1:]...)
	return append(argv, remote), nil
}

// hostOf is the SSH command's destination, user@host.
func hostOf(sshLine string) string {
	f := strings.Fields(sshLine)
	return f[len(f)-1]
}

// runOnHost runs the OpenSSH client (argv) with no input: OpenSSH asks for
// host keys and key passphrases on the terminal itself, and the remote
// script reads nothing. what names the job in errors.
func runOnHost(ctx context.Context, argv []string, stdout, stderr io.Writer, what string) error {
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%w: %s is not on PATH: install the OpenSSH client (apt-get install openssh-client)", errMissing, argv[0])
	}
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() == 255:
		return fmt.Errorf("could not %s: ssh could not reach the GitLab host (exit 255): is your key in network:sshPublicKey, and your address in network:allowedIpRanges? %w", what, err)
	case errors.As(err, &exit) && exit.ExitCode() == exitCommandNotFound:
		return fmt.Errorf("could not %s: the GitLab host could not run %s (exit 127, command not found): run up with this version of the program, which installs the host's scripts; if it did, see the output above",
			what, strings.Fields(argv[len(argv)-1])[0])
	case errors.As(err, &exit):
		return fmt.Errorf("could not %s: the script on the GitLab host failed (exit %d): its output is above", what, exit.ExitCode())
	default:
		return fmt.Errorf("could not %s: ssh: %w", what, err)
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lastLine passes on each line written to it but the last, which it holds.
type lastLine struct {
	w    io.Writer
	buf  bytes.Buffer
	line string
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		next := strings.TrimRight(string(l.buf.Next(i+1)), "\r\n")
		if strings.TrimSpace(next) == "" {
			continue
		}
		if l.line != "" {
			if _, err := fmt.Fprintln(l.w, l.line); err != nil {
				return len(p), err
			}
		}
		l.line = next
	}
}

// held is the last non-empty line, trimmed, unfinished or not.
func (l *lastLine) held() string {
	if rest := strings.TrimSpace(l.buf.String()); rest != "" {
		if l.line != "" {
			fmt.Fprintln(l.w, l.line)
		}
		l.line, l.buf = rest, bytes.Buffer{}
	}
	return strings.TrimSpace(l.line)
}

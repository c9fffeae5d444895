package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/tunnel"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

// tunnelFlags are the tunnel command's flags.
type tunnelFlags struct {
	port     int
	identity string
	hostKey  string
}

func (f *tunnelFlags) define(fs *flag.FlagSet) {
	fs.IntVar(&f.port, "port", 8443, "local port (on 127.0.0.1) to forward to GitLab's web port")
	fs.StringVar(&f.identity, "identity", "", "unencrypted private key the bastion trusts (its public half in network:sshPublicKey); default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa")
	fs.StringVar(&f.hostKey, "host-key", "", "pin the bastion's host key (SHA256:...); default: trust the first key seen and print it")
}

func cmdTunnel(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	var f tunnelFlags
	if _, err := parseCommand("tunnel", o, args, stderr, 0, f.define); err != nil {
		return err
	}
	outs, err := readOutputs(ctx, o)
	if err != nil {
		return err
	}
	return serveTunnel(ctx, outs, f, stdout, stderr)
}

// serveTunnel forwards f.port through the bastion named by the outputs to
// GitLab's web port until ctx ends.
func serveTunnel(ctx context.Context, outs auto.OutputMap, f tunnelFlags, stdout, stderr io.Writer) error {
	user, bastionAddr, err := bastionFromOutputs(outs)
	if err != nil {
		return err
	}
	target, scheme, err := gitlabWebTarget(outs)
	if err != nil {
		return err
	}
	key, keyPath, err := readIdentity(f.identity)
	if err != nil {
		return err
	}
	t, err := tunnel.Open(tunnel.Config{
		LocalPort:          f.port,
		BastionAddr:        bastionAddr,
		BastionUser:        user,
		PrivateKey:         key,
		HostKeyFingerprint: f.hostKey,
		Target:             target,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(stderr, errorPrefix+"tunnel: "+format+"\n", args...)
		},
	})
	if err != nil {
		return err
	}
	defer t.Close()
	fmt.Fprintf(stdout, "Forwarding %s://localhost:%d to GitLab at %s through %s@%s (key %s).\n", scheme, f.port, target, user, bastionAddr, keyPath)
	if scheme == "https" {
		fmt.Fprintf(stdout, "GitLab's certificate is signed by the stack's private CA: trust the PEM from `gitlab-kapsule outputs gitlabCaCert`,\nand expect a name mismatch for localhost (the certificate names %s).\n", strings.Split(target, ":")[0])
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to close the tunnel.")
	<-ctx.Done()
	if fp := t.HostKeyFingerprint(); fp != "" && f.hostKey == "" {
		fmt.Fprintf(stdout, "The bastion's host key was %s: pass --host-key %s to pin it.\n", fp, fp)
	}
	return nil
}

// bastionFromOutputs splits the bastion output "user@host:port".
func bastionFromOutputs(outs auto.OutputMap) (user, addr string, err error) {
	b, err := stringOutput(outs, stack.Bastion)
	if err != nil {
		return "", "", err
	}
	user, addr, ok := strings.Cut(b, "@")
	if !ok || user == "" {
		return "", "", fmt.Errorf("the bastion output %q is not user@host:port", b)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("the bastion output %q is not user@host:port: %w", b, err)
	}
	return user, addr, nil
}

// gitlabWebTarget is GitLab's private "host:port" and scheme, from gitlabUrl
// (or gitlabPrivateIp with HTTPS).
func gitlabWebTarget(outs auto.OutputMap) (target, scheme string, err error) {
	if raw, err := stringOutput(outs, stack.GitLabURL); err == nil {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return "", "", fmt.Errorf("the gitlabUrl output %q is not a URL", raw)
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		return net.JoinHostPort(u.Hostname(), port), u.Scheme, nil
	}
	ip, err := stringOutput(outs, stack.GitLabPrivateIP)
	if err != nil {
		return "", "", err
	}
	return net.JoinHostPort(ip, "443"), "https", nil
}

// readIdentity reads the private key file, or the first default one.
func readIdentity(path string) (key, used string, err error) {
	candidates := []string{path}
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", fmt.Errorf("%w: no --identity given and no home folder to look for ~/.ssh/id_*: %w", errMissing, err)
		}
		candidates = nil
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			candidates = append(candidates, filepath.Join(home, ".ssh", n))
		}
	}
	for _, c := range candidates {
		b, err := os.ReadFile(c)
		if err == nil {
			return string(b), c, nil
		}
		if path != "" || !errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("%w: read the SSH key %s: %w", errMissing, c, err)
		}
	}
	return "", "", fmt.Errorf("%w: no SSH key found (~/.ssh/id_ed25519, id_ecdsa, id_rsa): pass --identity with the key whose public half is in network:sshPublicKey", errMissing)
}

package provider

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
)

// DialSSHFunc opens an SSH connection to the bastion (see sshbastion.DialFunc).
type DialSSHFunc = sshbastion.DialFunc

// DialSSH is the DialSSHFunc the plugin uses: a TCP connection and the SSH
// handshake, both bounded by ctx.
func DialSSH(ctx context.Context, addr string, config *ssh.ClientConfig) (*ssh.Client, error) {
	return sshbastion.Dialer(nil)(ctx, addr, config)
}

// NormalizeFingerprint checks an OpenSSH SHA256 fingerprint ("SHA256:" and
// unpadded base64 of 32 bytes, as ssh-keygen -lf prints it) and returns it
// without padding. The empty string is returned unchanged.
func NormalizeFingerprint(fp string) (string, error) {
	if fp == "" {
		return "", nil
	}
	b64, ok := strings.CutPrefix(strings.TrimSpace(fp), "SHA256:")
	if !ok {
		return "", fmt.Errorf("host key fingerprint %q must start with \"SHA256:\" (ssh-keygen -lf prints it)", fp)
	}
	b64 = strings.TrimRight(b64, "=")
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 {
		return "", fmt.Errorf("host key fingerprint %q is not SHA256: followed by the base64 of 32 bytes", fp)
	}
	return "SHA256:" + b64, nil
}

// bastion keeps one SSH connection to the bastion for a whole wait and opens
// TCP channels through it; it connects again only when that connection
// drops. The host key is checked against the pinned fingerprint when there
// is one, else against the first key seen in this wait (trust on first
// use), so a key that changes between connections is refused.
type bastion struct {
	*sshbastion.Client
	addr string
}

func newBastion(addr, user string, signer ssh.Signer, pinned string, dial DialSSHFunc) *bastion {
	c := sshbastion.New(sshbastion.Options{
		Addr:               addr,
		User:               user,
		Signer:             signer,
		HostKeyFingerprint: pinned,
		HostKeySetting:     "hostKeyFingerprint",
		ClientVersion:      "SSH-2.0-gitlabwait",
		Dial:               dial,
	})
	return &bastion{Client: c, addr: addr}
}

// DialContext opens a TCP channel to addr through the bastion; it is the
// http.Transport's dialer.
func (b *bastion) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := b.Dial(ctx, network, addr)
	if err != nil {
		return nil, b.dialError(err)
	}
	return conn, nil
}

// dialError judges a failed channel open: a refused key or a changed host
// key is permanent, their text says what to do. A bastion that is not up
// yet, a target that refuses (*sshbastion.TargetError), a dead connection
// (dropped) or a channel open with no answer (the connection is probed off
// the caller's path) are retried until the deadline. Which reason Scaleway's
// bastion gives for a port that is not open yet is not documented (its
// forwarding to other ports is: docs-content "Use the SSH bastion"), so
// "administratively prohibited" is retried like "connect failed", and the
// last error then names it.
func (b *bastion) dialError(err error) error {
	var ce *sshbastion.ConnectError
	switch {
	case errors.Is(err, sshbastion.ErrClosed):
		return errors.New("the bastion session is closed")
	case errors.Is(err, sshbastion.ErrHostKeyMismatch), errors.Is(err, sshbastion.ErrKeyRefused):
		return permanent(err)
	case errors.As(err, &ce):
		return fmt.Errorf("bastion %s: %w", b.addr, ce.Err)
	}
	return err
}

// permanentError marks an error that waiting longer cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err: err} }

// IsPermanent reports whether err is one that retrying cannot fix (a refused
// SSH key, a changed host key, an untrusted certificate).
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

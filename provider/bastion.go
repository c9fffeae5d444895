package provider

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
)

// ErrHostKeyMismatch is matched (errors.Is) by every error caused by a bastion
// host key that differs from the pinned or first-seen one.
var ErrHostKeyMismatch = errors.New("bastion host key mismatch")

// ErrBastionAuth is matched (errors.Is) by errors where the bastion refused the SSH key.
var ErrBastionAuth = errors.New("bastion refused the ssh key")

// DialSSHFunc opens an SSH connection to the bastion (see sshbastion.DialFunc).
type DialSSHFunc = sshbastion.DialFunc

// DialSSH is the DialSSHFunc the plugin uses: a TCP connection and the SSH
// handshake, both bounded by ctx.
func DialSSH(ctx context.Context, addr string, config *ssh.ClientConfig) (*ssh.Client, error) {
	return sshbastion.Dialer(nil)(ctx, addr, config)
}

// HostKeyError says that the bastion presented a host key other than the
// pinned one, or other than the one it presented earlier in the same wait.
type HostKeyError struct {
	// Addr is the bastion's address.
	Addr string
	// Want is the pinned or first-seen fingerprint.
	Want string
	// Got is the fingerprint the bastion presented.
	Got string
	// Pinned tells whether Want was pinned by the hostKeyFingerprint input.
	Pinned bool
}

// Error says what happened and what to do about it.
func (e *HostKeyError) Error() string {
	if e.Pinned {
		return fmt.Sprintf("the bastion at %s presented host key %s, not the pinned %s: "+
			"if the Public Gateway was recreated, set hostKeyFingerprint to its new key (or unset it to trust on first use); "+
			"otherwise stop, the connection may be intercepted", e.Addr, e.Got, e.Want)
	}
	return fmt.Sprintf("the bastion at %s changed its host key during the wait (first %s, now %s): "+
		"if the Public Gateway was just recreated, run again; otherwise stop, the connection may be intercepted",
		e.Addr, e.Want, e.Got)
}

// Is makes errors.Is(err, ErrHostKeyMismatch) true.
func (e *HostKeyError) Is(target error) bool { return target == ErrHostKeyMismatch }

// AuthError says that the bastion refused the SSH key.
type AuthError struct {
	// Addr is the bastion's address.
	Addr string
	// User is the login that was refused.
	User string
	// Err is the SSH library's error.
	Err error
}

// Error says what happened and what to do about it.
func (e *AuthError) Error() string {
	return fmt.Sprintf("the bastion at %s refused the SSH key for user %q (%v): "+
		"register the automation public key as an IAM SSH key of the gateway's project, "+
		"and refresh the gateway's bastion keys (the bastion copies the project's keys only when it is enabled or refreshed)",
		e.Addr, e.User, e.Err)
}

// Unwrap returns the SSH library's error.
func (e *AuthError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBastionAuth) true.
func (e *AuthError) Is(target error) bool { return target == ErrBastionAuth }

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
	addr     string
	user     string
	client   *sshbastion.Client
	hostKeys hostKeys
}

// hostKeys reads the host key fingerprint a bastion trusts.
type hostKeys struct{ client *sshbastion.Client }

// fingerprint is the host key fingerprint trusted so far, or "".
func (h hostKeys) fingerprint() string { return h.client.HostKeyFingerprint() }

func newBastion(addr, user string, signer ssh.Signer, pinned string, dial DialSSHFunc) *bastion {
	c := sshbastion.New(sshbastion.Options{
		Addr:               addr,
		User:               user,
		Signer:             signer,
		HostKeyFingerprint: pinned,
		ClientVersion:      "SSH-2.0-gitlabwait",
		StallProbe:         keepaliveTimeout,
		Dial:               dial,
	})
	return &bastion{addr: addr, user: user, client: c, hostKeys: hostKeys{client: c}}
}

// DialContext opens a TCP channel to addr through the bastion; it is the
// http.Transport's dialer.
func (b *bastion) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := b.client.Dial(ctx, network, addr)
	if err == nil {
		return conn, nil
	}
	var (
		oce *ssh.OpenChannelError
		ce  *sshbastion.ConnectError
	)
	switch {
	case errors.As(err, &ce):
		return nil, b.classifyDialError(ce.Err)
	case errors.As(err, &oce):
		return nil, channelError(addr, oce)
	}
	// A dead connection (dropped), or a channel open with no answer (the
	// connection is probed off the caller's path).
	return nil, err
}

func (b *bastion) classifyDialError(err error) error {
	var (
		hk *sshbastion.HostKeyError
		ae *sshbastion.AuthError
	)
	switch {
	case errors.Is(err, sshbastion.ErrClosed):
		return errors.New("the bastion session is closed")
	case errors.As(err, &hk):
		return permanent(&HostKeyError{Addr: hk.Addr, Want: hk.Want, Got: hk.Got, Pinned: hk.Pinned})
	case errors.As(err, &ae):
		return permanent(&AuthError{Addr: b.addr, User: b.user, Err: ae.Err})
	}
	return fmt.Errorf("bastion %s: %w", b.addr, err)
}

// keepaliveTimeout bounds the answer to a keepalive before the connection is dropped.
const keepaliveTimeout = 5 * time.Second

// connections is the number of SSH connections attempted so far.
func (b *bastion) connections() int { return b.client.Connections() }

// Close closes the SSH connection; the bastion cannot be used afterwards.
func (b *bastion) Close() error { return b.client.Close() }

// channelError judges the bastion's refusal to open a channel to addr. The
// bastion is up; GitLab's host may not accept the connection yet. Which
// reason Scaleway's bastion gives for a port that is not open yet is not
// documented (its forwarding to other ports is: docs-content "Use the SSH
// bastion"), so "administratively prohibited" is retried like "connect
// failed" until the deadline, and the last error then names it.
func channelError(addr string, oce *ssh.OpenChannelError) error {
	msg := oce.Message
	if oce.Reason == ssh.Prohibited {
		msg = fmt.Sprintf("forwarding prohibited (%s): if this lasts, the bastion does not forward to GitLab's private address and port", oce.Message)
	}
	return &targetError{addr: addr, msg: msg}
}

// targetError says that the bastion could not open a connection to GitLab's host.
type targetError struct {
	addr string
	msg  string
}

func (e *targetError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("the bastion could not connect to %s", e.addr)
	}
	return fmt.Sprintf("the bastion could not connect to %s: %s", e.addr, e.msg)
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

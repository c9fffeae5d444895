package provider

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrHostKeyMismatch is matched (errors.Is) by every error caused by a bastion
// host key that differs from the pinned or first-seen one.
var ErrHostKeyMismatch = errors.New("bastion host key mismatch")

// ErrBastionAuth is matched (errors.Is) by errors where the bastion refused the SSH key.
var ErrBastionAuth = errors.New("bastion refused the ssh key")

// DialSSHFunc opens an SSH connection to addr ("host:port"). It must give up
// when ctx ends, during the TCP connect as well as during the handshake.
type DialSSHFunc func(ctx context.Context, addr string, config *ssh.ClientConfig) (*ssh.Client, error)

// DialSSH is the DialSSHFunc the plugin uses: a TCP connection and the SSH
// handshake, both bounded by ctx.
func DialSSH(ctx context.Context, addr string, config *ssh.ClientConfig) (*ssh.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	// Closing the connection is the only way to interrupt a handshake in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, config)
	if !stop() {
		if err == nil {
			_ = c.Close()
		}
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
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

// hostKeyPolicy checks the bastion's host key: against the pinned fingerprint
// when there is one, else against the first key seen in this wait (trust on
// first use), so a key that changes between connections is refused.
type hostKeyPolicy struct {
	pinned string

	mu       sync.Mutex
	trusted  string
	mismatch *HostKeyError
}

func (h *hostKeyPolicy) check(addr string, key ssh.PublicKey) error {
	fp := ssh.FingerprintSHA256(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.pinned != "" && fp != h.pinned:
		h.mismatch = &HostKeyError{Addr: addr, Want: h.pinned, Got: fp, Pinned: true}
	case h.pinned == "" && h.trusted != "" && fp != h.trusted:
		h.mismatch = &HostKeyError{Addr: addr, Want: h.trusted, Got: fp}
	default:
		h.trusted = fp
		return nil
	}
	return h.mismatch
}

// fingerprint is the host key fingerprint trusted so far, or "".
func (h *hostKeyPolicy) fingerprint() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.trusted
}

// lastMismatch is the last host key refused, or nil.
func (h *hostKeyPolicy) lastMismatch() *HostKeyError {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mismatch
}

// bastion keeps one SSH connection to the bastion for a whole wait and opens
// TCP channels through it; it connects again only when that connection drops.
type bastion struct {
	addr     string
	user     string
	config   *ssh.ClientConfig
	hostKeys *hostKeyPolicy
	dial     DialSSHFunc

	mu     sync.Mutex
	client *ssh.Client
	dials  int
	closed bool
}

func newBastion(addr, user string, signer ssh.Signer, pinned string, dial DialSSHFunc) *bastion {
	b := &bastion{addr: addr, user: user, hostKeys: &hostKeyPolicy{pinned: pinned}, dial: dial}
	b.config = &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			return b.hostKeys.check(addr, key)
		},
		ClientVersion: "SSH-2.0-gitlabwait",
	}
	return b
}

// connect returns the live SSH client, dialing the bastion if there is none.
func (b *bastion) connect(ctx context.Context) (*ssh.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("the bastion session is closed")
	}
	if b.client != nil {
		return b.client, nil
	}
	b.dials++
	c, err := b.dial(ctx, b.addr, b.config)
	if err != nil {
		return nil, b.classifyDialError(err)
	}
	b.client = c
	go func() {
		_ = c.Wait()
		b.forget(c)
	}()
	return c, nil
}

func (b *bastion) classifyDialError(err error) error {
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return permanent(hk)
	}
	if hk := b.hostKeys.lastMismatch(); hk != nil {
		return permanent(hk)
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return permanent(&AuthError{Addr: b.addr, User: b.user, Err: err})
	}
	return fmt.Errorf("bastion %s: %w", b.addr, err)
}

// forget drops c if it is still the current client, so the next dial reconnects.
func (b *bastion) forget(c *ssh.Client) {
	b.mu.Lock()
	if b.client == c {
		b.client = nil
	}
	b.mu.Unlock()
}

// drop closes c and forgets it.
func (b *bastion) drop(c *ssh.Client) {
	b.forget(c)
	_ = c.Close()
}

// DialContext opens a TCP channel to addr through the bastion; it is the
// http.Transport's dialer.
func (b *bastion) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := c.DialContext(ctx, network, addr)
	if err == nil {
		return conn, nil
	}
	var oce *ssh.OpenChannelError
	switch {
	case errors.As(err, &oce) && oce.Reason == ssh.Prohibited:
		return nil, permanent(fmt.Errorf("the bastion at %s refuses to forward to %s (%s): "+
			"the bastion must allow TCP forwarding to GitLab's private address and port", b.addr, addr, oce.Message))
	case errors.As(err, &oce):
		// The bastion is fine; GitLab's host does not accept the connection yet.
		return nil, &targetError{addr: addr, msg: oce.Message}
	case ctx.Err() != nil:
		// No answer to the channel open: the target may be slow, or the SSH
		// connection may be dead without a reset. Ask the bastion, off the caller's path.
		go b.checkAlive(c)
		return nil, err
	default:
		b.drop(c)
		return nil, fmt.Errorf("ssh connection to the bastion %s lost: %w", b.addr, err)
	}
}

// keepaliveTimeout bounds the answer to a keepalive before the connection is dropped.
const keepaliveTimeout = 5 * time.Second

// checkAlive drops c when the bastion does not answer a keepalive in time.
func (b *bastion) checkAlive(c *ssh.Client) {
	done := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		done <- err
	}()
	t := time.NewTimer(keepaliveTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			b.drop(c)
		}
	case <-t.C:
		b.drop(c)
	}
}

// connections is the number of SSH connections attempted so far.
func (b *bastion) connections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dials
}

// Close closes the SSH connection; the bastion cannot be used afterwards.
func (b *bastion) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.client == nil {
		return nil
	}
	err := b.client.Close()
	b.client = nil
	return err
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
// SSH key, a changed host key, a forwarding ban, an untrusted certificate).
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

package sshbastion

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// ScalewayUser is the login of Scaleway's Public Gateway SSH bastion.
const ScalewayUser = "bastion"

// DefaultStallProbe bounds the keepalive answer after a stalled channel open.
const DefaultStallProbe = 5 * time.Second

// ErrClosed is returned by Dial once the Client is closed.
var ErrClosed = errors.New("the bastion client is closed")

// ErrHostKeyMismatch is matched (errors.Is) by every *HostKeyError.
var ErrHostKeyMismatch = errors.New("bastion host key mismatch")

// ErrKeyRefused is matched (errors.Is) by every *AuthError.
var ErrKeyRefused = errors.New("bastion refused the ssh key")

// ErrNoAnswer is returned by Probe when the bastion does not answer a
// keepalive in time; the connection has been dropped.
var ErrNoAnswer = errors.New("the bastion stopped answering")

// DialFunc opens an SSH connection to addr ("host:port"). It must give up
// when ctx ends, during the TCP connect as well as during the handshake.
type DialFunc func(ctx context.Context, addr string, config *ssh.ClientConfig) (*ssh.Client, error)

// NetDialFunc opens a TCP connection, like net.Dialer.DialContext.
type NetDialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer returns a DialFunc that connects with dial (nil uses net.Dialer)
// and then makes the SSH handshake, both bounded by ctx. A failed TCP
// connection comes back as an *UnreachableError.
func Dialer(dial NetDialFunc) DialFunc {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	return func(ctx context.Context, addr string, config *ssh.ClientConfig) (*ssh.Client, error) {
		conn, err := dial(ctx, "tcp", addr)
		if err != nil {
			return nil, &UnreachableError{Err: err}
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
			_ = conn.Close()
			return nil, err
		}
		_ = conn.SetDeadline(time.Time{})
		return ssh.NewClient(c, chans, reqs), nil
	}
}

// UnreachableError says that the TCP connection to the bastion failed; its
// text is the underlying error's, so that callers word their own message.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return e.Err.Error() }

// Unwrap returns the dialer's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// HostKeyError says that the bastion presented a host key other than the
// pinned one, or other than the one it presented first to this Client.
type HostKeyError struct {
	// Addr is the bastion's address.
	Addr string
	// Want is the pinned or first-seen fingerprint.
	Want string
	// Got is the fingerprint the bastion presented.
	Got string
	// Pinned tells whether Want was pinned.
	Pinned bool
	// Setting names what pins the host key, for the advice (Options.HostKeySetting).
	Setting string
}

// Error says what happened and what to do about it.
func (e *HostKeyError) Error() string {
	if e.Pinned {
		setting := e.Setting
		if setting == "" {
			setting = "the pinned fingerprint"
		}
		return fmt.Sprintf("the bastion at %s presented host key %s, not the pinned %s: "+
			"if the Public Gateway was recreated, set %s to its new key (or unset it to trust on first use); "+
			"otherwise stop, the connection may be intercepted", e.Addr, e.Got, e.Want, setting)
	}
	return fmt.Sprintf("the bastion at %s changed its host key since it was first trusted (first %s, now %s): "+
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

// Error says what happened and what to do about it: Scaleway's bastion
// accepts the project's IAM SSH keys, copied when the bastion is enabled or
// its keys refreshed.
func (e *AuthError) Error() string {
	return fmt.Sprintf("the bastion at %s refused the SSH key for user %q (%v): "+
		"register the automation public key as an IAM SSH key of the gateway's project, "+
		"and refresh the gateway's bastion keys (the bastion copies the project's keys only when it is enabled or refreshed)",
		e.Addr, e.User, e.Err)
}

// Unwrap returns the SSH library's error.
func (e *AuthError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrKeyRefused) true.
func (e *AuthError) Is(target error) bool { return target == ErrKeyRefused }

// TargetError says that the bastion, reached, refused to open a channel to
// the target: the target may not accept connections yet.
type TargetError struct {
	// Bastion is the bastion's address.
	Bastion string
	// Target is the address the channel was for.
	Target string
	// Err is the bastion's refusal.
	Err *ssh.OpenChannelError
}

// Error says what the bastion answered; a prohibited forward that lasts means
// the bastion does not forward there at all.
func (e *TargetError) Error() string {
	msg := e.Err.Message
	if e.Err.Reason == ssh.Prohibited {
		msg = fmt.Sprintf("forwarding prohibited (%s): if this lasts, the bastion does not forward to %s", e.Err.Message, e.Target)
	}
	if msg == "" {
		return fmt.Sprintf("the bastion at %s could not connect to %s", e.Bastion, e.Target)
	}
	return fmt.Sprintf("the bastion at %s could not connect to %s: %s", e.Bastion, e.Target, msg)
}

// Unwrap returns the bastion's refusal.
func (e *TargetError) Unwrap() error { return e.Err }

// KeyError says that a private key cannot be used. It never quotes the key.
type KeyError struct {
	// Encrypted tells a passphrase-protected key from one that does not parse.
	Encrypted bool
}

// Error says what is wrong with the key and what to pass instead.
func (e *KeyError) Error() string {
	why := "it does not parse"
	if e.Encrypted {
		why = "it is encrypted"
	}
	return "the bastion key is not an unencrypted PEM private key (" + why + "): " +
		"pass the OpenSSH (or PKCS#8) PEM of the key the bastion trusts"
}

// ParsePrivateKey reads the key the bastion trusts; a key that cannot be
// used comes back as a *KeyError, whose text never quotes the key.
func ParsePrivateKey(pemKey string) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey([]byte(pemKey))
	if err != nil {
		var encrypted *ssh.PassphraseMissingError
		return nil, &KeyError{Encrypted: errors.As(err, &encrypted)}
	}
	return signer, nil
}

// ConnectError says that Dial could not connect to the bastion: Err is
// ErrClosed, an *UnreachableError, *HostKeyError, *AuthError or the
// dialer's error. Its text is Err's: a *HostKeyError or *AuthError says what
// to do; for the others, callers word their own message.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return e.Err.Error() }

// Unwrap returns the reason.
func (e *ConnectError) Unwrap() error { return e.Err }

// LostError says that the SSH connection to the bastion died under a channel open.
type LostError struct {
	// Addr is the bastion's address.
	Addr string
	// Err is the channel open's error.
	Err error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("ssh connection to the bastion %s lost: %v", e.Addr, e.Err)
}

// Unwrap returns the channel open's error.
func (e *LostError) Unwrap() error { return e.Err }

// Options say which bastion to use, as whom, and how.
type Options struct {
	// Addr is the bastion's "host:port".
	Addr string
	// User is the bastion's login.
	User string
	// Signer is the key the bastion trusts.
	Signer ssh.Signer
	// HostKeyFingerprint pins the bastion's host key ("SHA256:...", padding
	// ignored); empty trusts the first key seen by this Client and refuses
	// any other afterwards.
	HostKeyFingerprint string
	// HostKeySetting names, in a *HostKeyError's advice, what pins the host
	// key (e.g. the hostKeyFingerprint input); empty says "the pinned fingerprint".
	HostKeySetting string
	// ClientVersion is the SSH version string; empty uses the library's.
	ClientVersion string
	// Timeout, when positive, bounds each SSH connection and each channel
	// open, on top of the context given to Dial.
	Timeout time.Duration
	// Redial: when a channel open fails for any reason but the target's
	// refusal, drop the SSH connection and try once more on a new one.
	// Without it, a dead connection is dropped and the error returned, and
	// a channel open that ctx cut short only probes the connection, off the
	// caller's path, with StallProbe as the keepalive's deadline.
	Redial bool
	// StallProbe bounds the keepalive answer after a stalled channel open;
	// zero means DefaultStallProbe.
	StallProbe time.Duration
	// Dial opens the SSH connection; nil uses Dialer(nil).
	Dial DialFunc
}

// Client is one SSH connection to a bastion at a time, made on the first
// Dial and made again after it drops. It is safe for concurrent use.
type Client struct {
	opts Options

	mu      sync.Mutex
	client  *ssh.Client
	trusted string
	dials   int
	closed  bool
}

// New returns a Client; it dials nothing until the first Dial.
func New(opts Options) *Client {
	if opts.Dial == nil {
		opts.Dial = Dialer(nil)
	}
	if opts.StallProbe <= 0 {
		opts.StallProbe = DefaultStallProbe
	}
	return &Client{opts: opts}
}

// Dial opens a channel to addr through the bastion, connecting first if
// there is no live SSH connection. A target that refuses comes back as a
// *TargetError, a failed connection as a *ConnectError, a
// connection that died as a *LostError, and a channel open that ctx cut
// short as ctx's error.
func (c *Client) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		sc, err := c.connect(ctx)
		if err != nil {
			return nil, &ConnectError{Err: err}
		}
		conn, err := c.open(ctx, sc, network, addr)
		if err == nil {
			return conn, nil
		}
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			return nil, &TargetError{Bastion: c.opts.Addr, Target: addr, Err: oce}
		}
		if !c.opts.Redial && ctx.Err() != nil {
			// No answer to the channel open: the target may be slow, or the
			// SSH connection may be dead without a reset. Ask the bastion,
			// off the caller's path.
			go func() { _ = c.probe(sc, c.opts.StallProbe) }()
			return nil, err
		}
		c.drop(sc)
		if !c.opts.Redial || attempt > 0 {
			return nil, &LostError{Addr: c.opts.Addr, Err: err}
		}
	}
}

func (c *Client) open(ctx context.Context, sc *ssh.Client, network, addr string) (net.Conn, error) {
	if c.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	return sc.DialContext(ctx, network, addr)
}

// connect returns the live SSH client, dialing the bastion if there is none.
func (c *Client) connect(ctx context.Context) (*ssh.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.client != nil {
		return c.client, nil
	}
	if c.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	c.dials++
	var mismatch *HostKeyError
	config := &ssh.ClientConfig{
		User: c.opts.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(c.opts.Signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			// Called under c.mu, by the handshake that connect waits for.
			mismatch = c.checkHostKey(key)
			if mismatch == nil {
				return nil
			}
			return mismatch
		},
		ClientVersion: c.opts.ClientVersion,
	}
	sc, err := c.opts.Dial(ctx, c.opts.Addr, config)
	if err != nil {
		switch {
		case mismatch != nil:
			return nil, mismatch
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, &AuthError{Addr: c.opts.Addr, User: c.opts.User, Err: err}
		}
		return nil, err
	}
	c.client = sc
	go func() {
		_ = sc.Wait()
		c.forget(sc)
	}()
	return sc, nil
}

// checkHostKey accepts the pinned key, or the first key seen and only it.
// The caller holds c.mu.
func (c *Client) checkHostKey(key ssh.PublicKey) *HostKeyError {
	fp := ssh.FingerprintSHA256(key)
	want, pinned := c.opts.HostKeyFingerprint, true
	if want == "" {
		want, pinned = c.trusted, false
	}
	if want != "" && strings.TrimRight(want, "=") != fp {
		return &HostKeyError{Addr: c.opts.Addr, Want: want, Got: fp, Pinned: pinned, Setting: c.opts.HostKeySetting}
	}
	c.trusted = fp
	return nil
}

// forget drops sc if it is still the current client, so the next Dial reconnects.
func (c *Client) forget(sc *ssh.Client) {
	c.mu.Lock()
	if c.client == sc {
		c.client = nil
	}
	c.mu.Unlock()
}

// drop closes sc and forgets it.
func (c *Client) drop(sc *ssh.Client) {
	c.forget(sc)
	_ = sc.Close()
}

// Probe sends a keepalive on the live SSH connection, if there is one, and
// drops the connection when it fails or gets no answer within timeout
// (then the error is ErrNoAnswer), so the next Dial connects again instead
// of hanging on a dead connection.
func (c *Client) Probe(timeout time.Duration) error {
	c.mu.Lock()
	sc := c.client
	c.mu.Unlock()
	if sc == nil {
		return nil
	}
	return c.probe(sc, timeout)
}

func (c *Client) probe(sc *ssh.Client, timeout time.Duration) error {
	answered := make(chan error, 1)
	go func() {
		_, _, err := sc.SendRequest("keepalive@openssh.com", true, nil)
		answered <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-answered:
		if err != nil {
			c.drop(sc)
		}
		return err
	case <-t.C:
		c.drop(sc)
		return ErrNoAnswer
	}
}

// HostKeyFingerprint is the bastion host key trusted so far, or "".
func (c *Client) HostKeyFingerprint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trusted
}

// Connections is the number of SSH connections attempted so far.
func (c *Client) Connections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}

// Close closes the SSH connection; the Client cannot be used afterwards.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.client == nil {
		return nil
	}
	err := c.client.Close()
	c.client = nil
	return err
}

package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
)

// Defaults of a Config's optional fields.
const (
	// DefaultDialTimeout bounds the SSH connection to the bastion and the
	// opening of each channel to the target.
	DefaultDialTimeout = 20 * time.Second
	// DefaultKeepalive is how often an idle SSH connection is probed.
	DefaultKeepalive = 30 * time.Second
)

// Config says which loopback port to forward, through which bastion, to where.
type Config struct {
	// LocalPort is the loopback port (127.0.0.1) the tunnel listens on. It is
	// fixed, so that the GitLab provider's base URL stays the same from run to run.
	LocalPort int
	// BastionAddr is the bastion's "host:port".
	BastionAddr string
	// BastionUser is the bastion's login (sshbastion.ScalewayUser on Scaleway).
	BastionUser string
	// PrivateKey is the unencrypted OpenSSH (or PKCS#8) PEM key the bastion trusts.
	PrivateKey string
	// HostKeyFingerprint pins the bastion's host key ("SHA256:..."); empty
	// trusts the first key seen by this tunnel and refuses any other afterwards.
	HostKeyFingerprint string
	// Target is the "host:port" the bastion connects to, e.g. "10.0.0.10:443".
	Target string
	// DialTimeout bounds the SSH handshake and each channel open; zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// Keepalive is the probe interval of the SSH connection; zero means DefaultKeepalive.
	Keepalive time.Duration
	// Dial opens the TCP connection to the bastion; nil uses net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logf receives one line per failed connection; nil discards them. It
	// never receives key material.
	Logf func(format string, args ...any)
}

// key identifies what a tunnel forwards, for Shared: same key, same tunnel.
func (c Config) key(signer ssh.Signer) string {
	return strings.Join([]string{
		strconv.Itoa(c.LocalPort), c.BastionAddr, c.BastionUser, c.Target, c.HostKeyFingerprint,
		ssh.FingerprintSHA256(signer.PublicKey()),
	}, "|")
}

// Tunnel is an open loopback listener whose connections are forwarded
// through one SSH connection to the bastion. The SSH connection is made on
// the first forwarded connection and made again when it drops, so opening a
// tunnel never waits for, or fails because of, an unreachable bastion: the
// client of the tunnel sees the failure instead, promptly.
type Tunnel struct {
	cfg     Config
	key     string
	bastion *sshbastion.Client
	ln      net.Listener
	done    chan struct{}

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// Open checks cfg and listens on 127.0.0.1:LocalPort.
func Open(cfg Config) (*Tunnel, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = DefaultKeepalive
	}
	if cfg.LocalPort < 1 || cfg.LocalPort > 65535 {
		return nil, fmt.Errorf("tunnel: local port %d is not a TCP port", cfg.LocalPort)
	}
	if _, _, err := net.SplitHostPort(cfg.BastionAddr); err != nil {
		return nil, fmt.Errorf("tunnel: bastion address %q is not host:port", cfg.BastionAddr)
	}
	if _, _, err := net.SplitHostPort(cfg.Target); err != nil {
		return nil, fmt.Errorf("tunnel: target %q is not host:port", cfg.Target)
	}
	if cfg.BastionUser == "" {
		return nil, fmt.Errorf("tunnel: no bastion user: set it (Scaleway's is %q)", sshbastion.ScalewayUser)
	}
	signer, err := sshbastion.ParsePrivateKey(cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.LocalPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tunnel: cannot listen on %s (%v): another process holds the port; stop it, or choose another port (agent:tunnelPort)", addr, err)
	}
	b := sshbastion.New(sshbastion.Options{
		Addr:               cfg.BastionAddr,
		User:               cfg.BastionUser,
		Signer:             signer,
		HostKeyFingerprint: cfg.HostKeyFingerprint,
		ClientVersion:      "SSH-2.0-gitlab-kapsule-tunnel",
		Timeout:            cfg.DialTimeout,
		Redial:             true,
		Dial:               sshbastion.Dialer(cfg.Dial),
	})
	t := &Tunnel{cfg: cfg, key: cfg.key(signer), bastion: b, ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	go t.serve()
	go t.keepalive()
	return t, nil
}

// Addr is the loopback "host:port" the tunnel listens on.
func (t *Tunnel) Addr() string { return t.ln.Addr().String() }

// HostKeyFingerprint is the bastion host key trusted so far, or "".
func (t *Tunnel) HostKeyFingerprint() string { return t.bastion.HostKeyFingerprint() }

// Close stops listening, ends forwarded connections and the SSH connection.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	err := t.ln.Close()
	for c := range t.conns {
		_ = c.Close()
	}
	_ = t.bastion.Close()
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

func (t *Tunnel) serve() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		if !t.track(c) {
			_ = c.Close()
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.untrack(c)
			t.forward(c)
		}()
	}
}

func (t *Tunnel) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *Tunnel) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	_ = c.Close()
}

// forward copies one local connection to a channel through the bastion.
func (t *Tunnel) forward(local net.Conn) {
	remote, err := t.dialTarget()
	if err != nil {
		t.logf("tunnel %s: %v", t.Addr(), err)
		return
	}
	defer remote.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close where possible, so the other direction can finish.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go pipe(remote, local)
	go pipe(local, remote)
	select {
	case <-done:
		select {
		case <-done:
		case <-t.done:
		}
	case <-t.done:
	}
}

// dialTarget opens a channel to the target, connecting to the bastion again
// once if the SSH connection turns out to be dead.
func (t *Tunnel) dialTarget() (net.Conn, error) {
	conn, err := t.bastion.Dial(context.Background(), "tcp", t.cfg.Target)
	if err == nil {
		return conn, nil
	}
	var ue *sshbastion.UnreachableError
	switch {
	case errors.Is(err, sshbastion.ErrClosed):
		return nil, errors.New("the tunnel is closed")
	case errors.As(err, &ue):
		return nil, fmt.Errorf("cannot reach the bastion %s: %w (is network:allowedIpRanges admitting this host?)", t.cfg.BastionAddr, ue.Err)
	case errors.Is(err, sshbastion.ErrHostKeyMismatch), errors.Is(err, sshbastion.ErrKeyRefused):
		// Their text says what to do.
		return nil, err
	case errors.As(err, new(*sshbastion.ConnectError)):
		return nil, fmt.Errorf("ssh handshake with the bastion %s: %w", t.cfg.BastionAddr, err)
	}
	// A target that refuses (*sshbastion.TargetError) or a lost connection.
	return nil, err
}

// keepalive drops an SSH connection that stops answering, so the next
// forwarded connection dials again instead of hanging on a dead one.
func (t *Tunnel) keepalive() {
	tick := time.NewTicker(t.cfg.Keepalive)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		if err := t.bastion.Probe(t.cfg.DialTimeout); errors.Is(err, sshbastion.ErrNoAnswer) {
			t.logf("tunnel %s: the bastion %s stopped answering; reconnecting on the next connection", t.Addr(), t.cfg.BastionAddr)
		}
	}
}

func (t *Tunnel) logf(format string, args ...any) {
	if t.cfg.Logf != nil {
		t.cfg.Logf(format, args...)
	}
}

var (
	sharedMu sync.Mutex
	shared   = map[int]*Tunnel{}
)

// Shared returns this process's tunnel on cfg.LocalPort: the open one when
// it forwards the same way (same bastion, user, key, pin and target), else a
// new one, closing a different one on that port first. A program run by the
// Automation API lives in the driver's process, which may run several
// operations: they share one tunnel instead of colliding on the fixed port.
// Whoever opened it closes it when its operation ends (the program registers
// Close with internal/cleanup); a closed tunnel is replaced on the next call.
func Shared(cfg Config) (*Tunnel, error) {
	signer, err := sshbastion.ParsePrivateKey(cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if t, ok := shared[cfg.LocalPort]; ok {
		if t.key == cfg.key(signer) && !t.isClosed() {
			return t, nil
		}
		_ = t.Close()
		delete(shared, cfg.LocalPort)
	}
	t, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	shared[cfg.LocalPort] = t
	return t, nil
}

func (t *Tunnel) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

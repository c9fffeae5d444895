package harness

import (
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
)

// sshdHow tells a person where sshd comes from.
const sshdHow = "apt-get install openssh-server"

// Bastion is a real OpenSSH sshd on loopback standing in for the Public
// Gateway's SSH bastion: a throwaway host key, one authorized key, TCP
// forwarding to loopback only. Clients reach it through a counting TCP proxy
// whose port stays the same when sshd is stopped and started again, so tests
// can count connections and make them drop.
type Bastion struct {
	// Host is the address clients dial: 127.0.0.1.
	Host string
	// Port is the proxy's port, stable across Stop and Start.
	Port int
	// User is the login sshd accepts: the current user.
	User string
	// PrivateKey is the authorized client key, as OpenSSH PEM (what pulumi-tls gives).
	PrivateKey string

	sshd      string
	dir       string
	sshdPort  int
	ln        net.Listener
	accepted  atomic.Int64
	log       SyncBuffer
	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	conns     map[net.Conn]struct{}
	hostKeyFP string
}

// StartBastion starts sshd and its proxy for t and stops both when t ends.
// Where sshd is missing the test skips, or fails under GLK_STRICT/CI.
func StartBastion(t testing.TB) *Bastion {
	t.Helper()
	sshd := testenv.Tool(t, "sshd", sshdHow)
	if !filepath.IsAbs(sshd) {
		abs, err := filepath.Abs(sshd)
		if err != nil {
			t.Fatal(err)
		}
		sshd = abs
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("who runs the test: %v", err)
	}
	if os.Geteuid() == 0 {
		// sshd run by root insists on its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("create /run/sshd for sshd: %v", err)
		}
	}
	b := &Bastion{Host: "127.0.0.1", User: u.Username, sshd: sshd, dir: t.TempDir(), conns: map[net.Conn]struct{}{}}
	b.log.Limit = 1 << 20
	b.PrivateKey = BastionKey(t)
	signer, err := ssh.ParsePrivateKey([]byte(b.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "authorized_keys"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	b.RotateBastionHostKey(t)
	b.sshdPort = FreePort(t)
	b.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for the bastion proxy: %v", err)
	}
	b.Port = b.ln.Addr().(*net.TCPAddr).Port
	go b.serveProxy()
	t.Cleanup(func() {
		_ = b.ln.Close()
		b.stop()
		if t.Failed() {
			t.Logf("sshd log:\n%s", b.log.String())
		}
	})
	b.Start(t)
	return b
}

// BastionKey returns a fresh ED25519 private key as OpenSSH PEM; the
// bastion trusts only its own PrivateKey, so this one is refused.
func BastionKey(t testing.TB) string {
	t.Helper()
	key, _ := newKey(t, "glk-test")
	return string(key)
}

// Addr is the "host:port" clients dial.
func (b *Bastion) Addr() string { return net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) }

// HostKeyFingerprint is the SHA256 fingerprint of the host key sshd uses
// from its next Start (and now, unless RotateBastionHostKey was called since).
func (b *Bastion) HostKeyFingerprint() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hostKeyFP
}

// Connections is the number of TCP connections the proxy has accepted.
func (b *Bastion) Connections() int64 { return b.accepted.Load() }

// Log is what sshd has written so far.
func (b *Bastion) Log() string { return b.log.String() }

// RotateBastionHostKey writes a new host key; sshd presents it from its next Start.
func (b *Bastion) RotateBastionHostKey(t testing.TB) {
	t.Helper()
	key, pub := newKey(t, "glk-test-host")
	// sshd refuses a host key that others can read.
	if err := os.WriteFile(filepath.Join(b.dir, "host_ed25519"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.hostKeyFP = ssh.FingerprintSHA256(pub)
	b.mu.Unlock()
}

// config is sshd_config: loopback only, public keys only, forwarding to loopback only.
func (b *Bastion) config(penalties bool) []byte {
	return sshdConfig(sshdOptions(b.sshdPort, filepath.Join(b.dir, "host_ed25519"), filepath.Join(b.dir, "authorized_keys"), b.User,
		"AllowTcpForwarding yes",
		"PermitOpen 127.0.0.1:* localhost:*",
		"GatewayPorts no",
		"ClientAliveInterval 0",
	), penalties)
}

// writeConfig writes sshd_config, keeping only options this sshd knows.
func (b *Bastion) writeConfig(t testing.TB) string {
	t.Helper()
	path := filepath.Join(b.dir, "sshd_config")
	writeSSHDConfig(t, b.sshd, path, "the test configuration", b.config)
	return path
}

// Start starts sshd (again) on its port and waits until it accepts connections.
func (b *Bastion) Start(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	running := b.cmd != nil
	b.mu.Unlock()
	if running {
		t.Fatal("the bastion is already running: Stop it first")
	}
	cfg := b.writeConfig(t)
	cmd := exec.Command(b.sshd, "-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = &b.log, &b.log
	// Its own process group, so Stop also ends the per-connection children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.sshdPort)), time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("sshd exited at start:\n%s", b.log.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("sshd does not listen on port %d after 10s:\n%s", b.sshdPort, b.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.mu.Lock()
	b.cmd, b.exited = cmd, exited
	b.mu.Unlock()
}

// Stop kills sshd and every session it serves, and drops the connections
// through the proxy, as a bastion that goes away does. The proxy keeps its
// port and closes the connections it accepts until Start.
func (b *Bastion) Stop(t testing.TB) {
	t.Helper()
	if !b.stop() {
		t.Fatal("the bastion is not running")
	}
}

// Restart is Stop then Start.
func (b *Bastion) Restart(t testing.TB) {
	t.Helper()
	b.Stop(t)
	b.Start(t)
}

func (b *Bastion) stop() bool {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	conns := b.conns
	b.conns = map[net.Conn]struct{}{}
	b.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
	if cmd == nil {
		return false
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	return true
}

// serveProxy accepts clients, counts them and splices them to sshd.
func (b *Bastion) serveProxy() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.accepted.Add(1)
		go b.splice(c)
	}
}

func (b *Bastion) splice(c net.Conn) {
	b.mu.Lock()
	up := b.cmd != nil
	b.mu.Unlock()
	if !up {
		_ = c.Close()
		return
	}
	s, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.sshdPort)), 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	b.mu.Lock()
	if b.cmd == nil {
		b.mu.Unlock()
		_ = c.Close()
		_ = s.Close()
		return
	}
	b.conns[c], b.conns[s] = struct{}{}, struct{}{}
	b.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done
	_ = c.Close()
	_ = s.Close()
	<-done
	b.mu.Lock()
	delete(b.conns, c)
	delete(b.conns, s)
	b.mu.Unlock()
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

package tunnel

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// fakeBastion is an in-process SSH server on loopback that accepts one key
// and forwards direct-tcpip channels, like the Public Gateway's bastion.
type fakeBastion struct {
	ln         net.Listener
	hostSigner ssh.Signer
	authorized ssh.PublicKey
	accepted   atomic.Int32
	mu         sync.Mutex
	conns      []net.Conn
}

func newKey(t *testing.T) (string, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(block)), signer
}

func startBastion(t *testing.T, authorized ssh.PublicKey) *fakeBastion {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, host := newKey(t)
	b := &fakeBastion{ln: ln, hostSigner: host, authorized: authorized}
	t.Cleanup(func() { _ = ln.Close(); b.dropAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			go b.serve(c)
		}
	}()
	return b
}

func (b *fakeBastion) addr() string { return b.ln.Addr().String() }

// dropAll cuts every SSH connection, as a gateway restart would.
func (b *fakeBastion) dropAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.conns = nil
}

func (b *fakeBastion) serve(c net.Conn) {
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if string(key.Marshal()) == string(b.authorized.Marshal()) {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown key")
	}}
	cfg.AddHostKey(b.hostSigner)
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go func() {
		for r := range reqs {
			if r.WantReply {
				_ = r.Reply(true, nil)
			}
		}
	}()
	for nc := range chans {
		if nc.ChannelType() != "direct-tcpip" {
			_ = nc.Reject(ssh.UnknownChannelType, "no")
			continue
		}
		// RFC 4254 7.2: host string, port uint32, origin string, origin port.
		data := nc.ExtraData()
		n := binary.BigEndian.Uint32(data)
		host := string(data[4 : 4+n])
		port := binary.BigEndian.Uint32(data[4+n:])
		target, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
		if err != nil {
			_ = nc.Reject(ssh.ConnectionFailed, "connect failed: "+err.Error())
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			_ = target.Close()
			continue
		}
		go ssh.DiscardRequests(creqs)
		go func() { _, _ = io.Copy(ch, target); _ = ch.CloseWrite() }()
		go func() { _, _ = io.Copy(target, ch); _ = target.Close() }()
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func gitlab(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "gitlab says hi to %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func get(t *testing.T, addr, path string) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func config(t *testing.T, key string, b *fakeBastion, target string, l *logs) Config {
	return Config{
		LocalPort: freePort(t), BastionAddr: b.addr(), BastionUser: "bastion",
		PrivateKey: key, Target: target, DialTimeout: 2 * time.Second, Logf: l.logf,
	}
}

func TestForwardsThroughOneSSHConnection(t *testing.T) {
	t.Parallel()
	key, signer := newKey(t)
	b := startBastion(t, signer.PublicKey())
	l := &logs{}
	cfg := config(t, key, b, gitlab(t), l)
	tun, err := Open(cfg)
	require.NoError(t, err)
	defer tun.Close()
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(cfg.LocalPort), tun.Addr(), "the fixed port, on loopback only")
	assert.Zero(t, b.accepted.Load(), "opening dials nothing")

	for i := range 3 {
		body, err := get(t, tun.Addr(), fmt.Sprintf("/api/v4/%d", i))
		require.NoError(t, err, l.String())
		assert.Equal(t, fmt.Sprintf("gitlab says hi to /api/v4/%d", i), body)
	}
	assert.EqualValues(t, 1, b.accepted.Load(), "one SSH connection carries every forwarded connection")
	assert.Equal(t, ssh.FingerprintSHA256(b.hostSigner.PublicKey()), tun.HostKeyFingerprint())
}

func TestReconnectsAfterTheBastionDrops(t *testing.T) {
	t.Parallel()
	key, signer := newKey(t)
	b := startBastion(t, signer.PublicKey())
	l := &logs{}
	tun, err := Open(config(t, key, b, gitlab(t), l))
	require.NoError(t, err)
	defer tun.Close()
	_, err = get(t, tun.Addr(), "/")
	require.NoError(t, err)
	b.dropAll()
	require.Eventually(t, func() bool {
		_, err := get(t, tun.Addr(), "/again")
		return err == nil
	}, 5*time.Second, 50*time.Millisecond, l.String())
	assert.EqualValues(t, 2, b.accepted.Load())
}

func TestFailuresCloseTheClientPromptly(t *testing.T) {
	t.Parallel()
	key, signer := newKey(t)
	otherKey, _ := newKey(t)
	b := startBastion(t, signer.PublicKey())
	deadTarget := fmt.Sprintf("127.0.0.1:%d", freePort(t))

	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"refused key", func(c *Config) { c.PrivateKey = otherKey }, "refused the SSH key"},
		{"pinned host key differs", func(c *Config) { c.HostKeyFingerprint = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, "presented host key"},
		{"target gone", func(c *Config) { c.Target = deadTarget }, "could not connect to " + deadTarget},
		{"bastion gone", func(c *Config) { c.BastionAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t)) }, "cannot reach the bastion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := &logs{}
			cfg := config(t, key, b, gitlab(t), l)
			tt.change(&cfg)
			tun, err := Open(cfg)
			require.NoError(t, err, "opening never depends on the bastion")
			defer tun.Close()
			start := time.Now()
			_, err = get(t, tun.Addr(), "/")
			require.Error(t, err, "the client sees the failure")
			assert.Less(t, time.Since(start), 4*time.Second, "no hang")
			assert.Contains(t, l.String(), tt.want)
			assert.NotContains(t, l.String(), "PRIVATE KEY", "no key material in messages")
		})
	}
}

func TestOpenRefusesBadInput(t *testing.T) {
	t.Parallel()
	key, signer := newKey(t)
	b := startBastion(t, signer.PublicKey())
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	good := config(t, key, b, "10.0.0.10:443", &logs{})
	for name, tc := range map[string]struct {
		change func(*Config)
		want   string
	}{
		"busy port":   {func(c *Config) { c.LocalPort = busy.Addr().(*net.TCPAddr).Port }, "agent:tunnelPort"},
		"bad key":     {func(c *Config) { c.PrivateKey = "not a key" }, "not an unencrypted PEM private key"},
		"bad target":  {func(c *Config) { c.Target = "10.0.0.10" }, "not host:port"},
		"bad bastion": {func(c *Config) { c.BastionAddr = "" }, "not host:port"},
		"no user":     {func(c *Config) { c.BastionUser = "" }, "bastion user"},
		"bad port":    {func(c *Config) { c.LocalPort = 0 }, "not a TCP port"},
	} {
		cfg := good
		tc.change(&cfg)
		_, err := Open(cfg)
		assert.ErrorContains(t, err, tc.want, name)
		if err != nil {
			assert.NotContains(t, err.Error(), "not a key", "the key is never quoted")
		}
	}
}

func TestSharedReusesTheSameTunnel(t *testing.T) {
	key, signer := newKey(t)
	b := startBastion(t, signer.PublicKey())
	target := gitlab(t)
	cfg := config(t, key, b, target, &logs{})
	first, err := Shared(cfg)
	require.NoError(t, err)
	again, err := Shared(cfg)
	require.NoError(t, err)
	assert.Same(t, first, again, "a second operation in the same process reuses the port")

	other := cfg
	other.Target = "10.0.0.11:443"
	moved, err := Shared(other)
	require.NoError(t, err)
	assert.NotSame(t, first, moved, "a new target on the same port replaces the tunnel")
	assert.True(t, first.isClosed())

	// An operation's cleanup closes the tunnel it used: the port is free,
	// and the next operation gets a fresh tunnel, not the closed one.
	require.NoError(t, moved.Close())
	ln, err := net.Listen("tcp", moved.Addr())
	require.NoError(t, err, "the port is free again")
	_ = ln.Close()
	next, err := Shared(other)
	require.NoError(t, err)
	t.Cleanup(func() { _ = next.Close() })
	assert.NotSame(t, moved, next, "a closed tunnel is replaced")
	assert.False(t, next.isClosed())
}

func TestCloseEndsForwardedConnections(t *testing.T) {
	t.Parallel()
	key, signer := newKey(t)
	b := startBastion(t, signer.PublicKey())
	// A target that never answers keeps the forwarded connection open.
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hold.Close()
	go func() {
		for {
			c, err := hold.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tun, err := Open(config(t, key, b, hold.Addr().String(), &logs{}))
	require.NoError(t, err)
	c, err := net.Dial("tcp", tun.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)

	closed := make(chan error, 1)
	go func() { closed <- tun.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on an open forwarded connection")
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err, "the client's connection is closed")
}

package provider

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// fakeBastion is an in-process SSH server on loopback that forwards
// direct-tcpip channels to loopback: the unit tests' DialSSHFunc.
type fakeBastion struct {
	t          testing.TB
	ln         net.Listener
	hostSigner ssh.Signer
	authorized ssh.PublicKey
	dials      atomic.Int32
	dialErr    error // when set, every dial fails with it
}

func newFakeBastion(t testing.TB, clientKey ssh.Signer) *fakeBastion {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	f := &fakeBastion{t: t, ln: ln, hostSigner: newSigner(t), authorized: clientKey.PublicKey()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeBastion) Dial(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	f.dials.Add(1)
	if f.dialErr != nil {
		return nil, f.dialErr
	}
	// The production dialer, pointed at the fake whatever addr says.
	return DialSSH(ctx, f.ln.Addr().String(), cfg)
}

func (f *fakeBastion) serve(nc net.Conn) {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), f.authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(f.hostSigner)
	conn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "direct-tcpip" {
			_ = nch.Reject(ssh.UnknownChannelType, "only direct-tcpip")
			continue
		}
		var target struct {
			Host     string
			Port     uint32
			OrigHost string
			OrigPort uint32
		}
		if err := ssh.Unmarshal(nch.ExtraData(), &target); err != nil {
			_ = nch.Reject(ssh.ConnectionFailed, "bad request")
			continue
		}
		up, err := net.Dial("tcp", net.JoinHostPort(target.Host, strconv.Itoa(int(target.Port))))
		if err != nil {
			_ = nch.Reject(ssh.ConnectionFailed, "Connection refused")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			_ = up.Close()
			continue
		}
		go ssh.DiscardRequests(creqs)
		go func() {
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, ch); _ = up.(*net.TCPConn).CloseWrite() }()
			go func() { defer wg.Done(); _, _ = io.Copy(ch, up); _ = ch.CloseWrite() }()
			wg.Wait()
			_ = ch.Close()
			_ = up.Close()
		}()
	}
}

// fakeClock advances only when slept on, so long waits take no time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newKeyPEM returns an ED25519 key as OpenSSH PEM (what pulumi-tls gives) and its signer.
func newKeyPEM(t testing.TB) (string, ssh.Signer) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(key, "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), s
}

// schedule is a GitLab stand-in that answers the given statuses in turn,
// repeating the last one; 200 comes with a readiness body.
type schedule struct {
	codes []int
	n     atomic.Int32
}

func (s *schedule) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(s.n.Add(1)) - 1
	code := s.codes[min(i, len(s.codes)-1)]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if code == http.StatusOK {
		_, _ = io.WriteString(w, `{"status":"ok","master_check":[{"status":"ok"}],"db_check":[{"status":"ok"}]}`)
	}
}

// startGitLab serves h on loopback and returns its host and port.
func startGitLab(t testing.TB, h http.Handler) (string, int) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

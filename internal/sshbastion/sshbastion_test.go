package sshbastion

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	return s
}

var errNoServer = errors.New("no server behind the host key")

// keyOnly is a Client whose dialer stops after the host key check, against
// whatever key is set to present.
type keyOnly struct {
	*Client
	key ssh.PublicKey
}

func newKeyOnly(t *testing.T, pinned string) *keyOnly {
	k := &keyOnly{}
	k.Client = New(Options{Addr: "gw:61000", User: "bastion", Signer: newSigner(t), HostKeyFingerprint: pinned,
		Dial: func(_ context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
			if err := cfg.HostKeyCallback(addr, nil, k.key); err != nil {
				return nil, fmt.Errorf("ssh: handshake failed: %w", err)
			}
			return nil, errNoServer
		}})
	return k
}

func (k *keyOnly) present(t *testing.T, key ssh.PublicKey) error {
	t.Helper()
	k.key = key
	_, err := k.Dial(context.Background(), "tcp", "10.0.0.10:80")
	require.ErrorAs(t, err, new(*ConnectError))
	return err
}

func TestTrustOnFirstUse(t *testing.T) {
	t.Parallel()
	a, b := newSigner(t).PublicKey(), newSigner(t).PublicKey()
	k := newKeyOnly(t, "")
	assert.Empty(t, k.HostKeyFingerprint())
	require.ErrorIs(t, k.present(t, a), errNoServer)
	require.ErrorIs(t, k.present(t, a), errNoServer, "the same key again is fine")
	err := k.present(t, b)
	var hk *HostKeyError
	require.ErrorAs(t, err, &hk)
	assert.Equal(t, HostKeyError{Addr: "gw:61000", Want: ssh.FingerprintSHA256(a), Got: ssh.FingerprintSHA256(b)}, *hk)
	assert.Equal(t, ssh.FingerprintSHA256(a), k.HostKeyFingerprint(), "a refused key is never trusted")
	assert.Equal(t, 3, k.Connections())
}

func TestPinnedIgnoresPadding(t *testing.T) {
	t.Parallel()
	a, b := newSigner(t).PublicKey(), newSigner(t).PublicKey()
	k := newKeyOnly(t, ssh.FingerprintSHA256(a)+"=")
	require.ErrorIs(t, k.present(t, a), errNoServer)
	var hk *HostKeyError
	require.ErrorAs(t, k.present(t, b), &hk)
	assert.True(t, hk.Pinned)
	assert.ErrorContains(t, hk, "presented host key "+ssh.FingerprintSHA256(b))
}

func TestRefusedKeyIsAnAuthError(t *testing.T) {
	t.Parallel()
	refused := errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey]")
	c := New(Options{Addr: "gw:61000", User: "bastion", Signer: newSigner(t),
		Dial: func(context.Context, string, *ssh.ClientConfig) (*ssh.Client, error) { return nil, refused }})
	_, err := c.Dial(context.Background(), "tcp", "10.0.0.10:80")
	var ae *AuthError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "bastion", ae.User)
	require.ErrorIs(t, err, refused)
}

func TestDialerMarksUnreachable(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	dial := Dialer(func(context.Context, string, string) (net.Conn, error) { return nil, down })
	_, err := dial(context.Background(), "gw:61000", &ssh.ClientConfig{})
	var ue *UnreachableError
	require.ErrorAs(t, err, &ue)
	assert.ErrorIs(t, err, down)
	assert.Equal(t, down.Error(), err.Error(), "callers word the message")
}

func TestClosedClientDialsNothing(t *testing.T) {
	t.Parallel()
	k := newKeyOnly(t, "")
	require.NoError(t, k.Close())
	_, err := k.Dial(context.Background(), "tcp", "10.0.0.10:80")
	require.ErrorIs(t, err, ErrClosed)
	assert.Zero(t, k.Connections())
	require.NoError(t, k.Probe(0), "no connection, nothing to probe")
}

package sshbastion

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
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

// The advice lives in the errors' own text, so every caller gives the same.
func TestErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	pinned := &HostKeyError{Addr: "gw:61000", Want: "SHA256:a", Got: "SHA256:b", Pinned: true, Setting: "hostKeyFingerprint"}
	assert.ErrorIs(t, pinned, ErrHostKeyMismatch)
	assert.EqualError(t, pinned, "the bastion at gw:61000 presented host key SHA256:b, not the pinned SHA256:a: "+
		"if the Public Gateway was recreated, set hostKeyFingerprint to its new key (or unset it to trust on first use); "+
		"otherwise stop, the connection may be intercepted")
	pinned.Setting = ""
	assert.ErrorContains(t, pinned, "set the pinned fingerprint to its new key")
	changed := &HostKeyError{Addr: "gw:61000", Want: "SHA256:a", Got: "SHA256:b"}
	assert.ErrorContains(t, changed, "changed its host key since it was first trusted (first SHA256:a, now SHA256:b): "+
		"if the Public Gateway was just recreated, run again")

	refused := &AuthError{Addr: "gw:61000", User: "bastion", Err: errors.New("ssh: unable to authenticate")}
	assert.ErrorIs(t, refused, ErrKeyRefused)
	assert.NotErrorIs(t, refused, ErrHostKeyMismatch)
	assert.ErrorContains(t, refused, `the bastion at gw:61000 refused the SSH key for user "bastion" (ssh: unable to authenticate): `+
		"register the automation public key as an IAM SSH key of the gateway's project")

	for reason, want := range map[ssh.RejectionReason]string{
		ssh.ConnectionFailed: "the bastion at gw:61000 could not connect to 10.0.0.10:443: Connection refused",
		ssh.Prohibited:       "forwarding prohibited (Connection refused): if this lasts, the bastion does not forward to 10.0.0.10:443",
	} {
		oce := &ssh.OpenChannelError{Reason: reason, Message: "Connection refused"}
		err := &TargetError{Bastion: "gw:61000", Target: "10.0.0.10:443", Err: oce}
		assert.ErrorContains(t, err, want)
		assert.ErrorIs(t, err, oce)
	}
	assert.EqualError(t, &TargetError{Bastion: "gw:61000", Target: "10.0.0.10:443", Err: &ssh.OpenChannelError{}},
		"the bastion at gw:61000 could not connect to 10.0.0.10:443")
}

func TestParsePrivateKeyNeverQuotesTheKey(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	plain, err := ssh.MarshalPrivateKey(key, "")
	require.NoError(t, err)
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(key, "", []byte("secret"))
	require.NoError(t, err)

	signer, err := ParsePrivateKey(string(pem.EncodeToMemory(plain)))
	require.NoError(t, err)
	assert.Equal(t, "ssh-ed25519", signer.PublicKey().Type())
	for pemKey, why := range map[string]string{
		string(pem.EncodeToMemory(encrypted)):              "(it is encrypted)",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n": "(it does not parse)",
	} {
		_, err := ParsePrivateKey(pemKey)
		var ke *KeyError
		require.ErrorAs(t, err, &ke)
		assert.ErrorContains(t, err, "not an unencrypted PEM private key "+why)
		assert.NotContains(t, err.Error(), "not a key")
		assert.NotContains(t, err.Error(), "PRIVATE KEY")
	}
}

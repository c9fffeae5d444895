package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
)

func TestNormalizeFingerprint(t *testing.T) {
	t.Parallel()
	valid := "SHA256:" + strings.Repeat("A", 43)
	tests := []struct {
		in, want, err string
	}{
		{"", "", ""},
		{valid, valid, ""},
		{valid + "=", valid, ""},
		{" " + valid + "\n", valid, ""},
		{strings.Repeat("A", 43), "", `must start with "SHA256:"`},
		{"MD5:aa:bb", "", `must start with "SHA256:"`},
		{"SHA256:abc", "", "base64 of 32 bytes"},
		{"SHA256:" + strings.Repeat("!", 43), "", "base64 of 32 bytes"},
	}
	for _, tt := range tests {
		got, err := NormalizeFingerprint(tt.in)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, "input %q", tt.in)
			continue
		}
		assert.NoError(t, err, "input %q", tt.in)
		assert.Equal(t, tt.want, got)
	}
}

func TestNormalizeFingerprintAcceptsRealKeys(t *testing.T) {
	t.Parallel()
	fp := ssh.FingerprintSHA256(newSigner(t).PublicKey())
	got, err := NormalizeFingerprint(fp)
	require.NoError(t, err)
	assert.Equal(t, fp, got)
}

// hostKeyBastion is a bastion whose dialer stops after the host key check:
// the check is all that runs, against whatever key is set to present.
type hostKeyBastion struct {
	*bastion
	key ssh.PublicKey
}

var errNoServer = errors.New("no server behind the host key")

func newHostKeyBastion(t *testing.T, pinned string) *hostKeyBastion {
	h := &hostKeyBastion{}
	dial := func(_ context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
		if err := cfg.HostKeyCallback(addr, nil, h.key); err != nil {
			return nil, fmt.Errorf("ssh: handshake failed: %w", err)
		}
		return nil, errNoServer
	}
	h.bastion = newBastion("gw:61000", "bastion", newSigner(t), pinned, dial)
	return h
}

// present makes the bastion present key and returns DialContext's error,
// errNoServer when the key was accepted.
func (h *hostKeyBastion) present(t *testing.T, key ssh.PublicKey) error {
	t.Helper()
	h.key = key
	_, err := h.DialContext(context.Background(), "tcp", "10.0.0.10:80")
	require.Error(t, err)
	return err
}

func TestHostKeyPolicyTrustOnFirstUse(t *testing.T) {
	t.Parallel()
	a, b := newSigner(t).PublicKey(), newSigner(t).PublicKey()
	h := newHostKeyBastion(t, "")
	require.ErrorIs(t, h.present(t, a), errNoServer)
	assert.Equal(t, ssh.FingerprintSHA256(a), h.HostKeyFingerprint())
	require.ErrorIs(t, h.present(t, a), errNoServer, "the same key again is fine")

	err := h.present(t, b)
	require.ErrorIs(t, err, sshbastion.ErrHostKeyMismatch)
	assert.True(t, IsPermanent(err))
	assert.ErrorContains(t, err, "changed its host key since it was first trusted")
	assert.ErrorContains(t, err, ssh.FingerprintSHA256(a))
	assert.ErrorContains(t, err, ssh.FingerprintSHA256(b))
	assert.Equal(t, ssh.FingerprintSHA256(a), h.HostKeyFingerprint(), "a refused key is never trusted")
}

func TestHostKeyPolicyPinned(t *testing.T) {
	t.Parallel()
	a, b := newSigner(t).PublicKey(), newSigner(t).PublicKey()
	h := newHostKeyBastion(t, ssh.FingerprintSHA256(a))
	require.ErrorIs(t, h.present(t, a), errNoServer)
	err := h.present(t, b)
	require.ErrorIs(t, err, sshbastion.ErrHostKeyMismatch)
	assert.ErrorContains(t, err, "not the pinned")
	assert.ErrorContains(t, err, "set hostKeyFingerprint to its new key", "the advice names the input")
	var hk *sshbastion.HostKeyError
	assert.ErrorAs(t, err, &hk)
}

// Nothing documents which reason Scaleway's bastion sends for a port that
// is not open yet, so a prohibited forward is retried, not final, and says
// what it means if it lasts.
func TestProhibitedForwardIsRetried(t *testing.T) {
	t.Parallel()
	b := newBastion("gw:61000", "bastion", newSigner(t), "", nil)
	refusal := func(reason ssh.RejectionReason) error {
		return b.dialError(&sshbastion.TargetError{Bastion: "gw:61000", Target: "10.0.0.10:443",
			Err: &ssh.OpenChannelError{Reason: reason, Message: "no"}})
	}
	for _, reason := range []ssh.RejectionReason{ssh.Prohibited, ssh.ConnectionFailed} {
		err := refusal(reason)
		assert.False(t, IsPermanent(err), "%v is retried until the deadline", reason)
		assert.Contains(t, err.Error(), "10.0.0.10:443")
	}
	assert.Contains(t, refusal(ssh.Prohibited).Error(), "forwarding prohibited")
}

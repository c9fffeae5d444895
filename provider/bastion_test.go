package provider

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
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

func TestHostKeyPolicyTrustOnFirstUse(t *testing.T) {
	t.Parallel()
	a, b := newSigner(t).PublicKey(), newSigner(t).PublicKey()
	h := &hostKeyPolicy{}
	require.NoError(t, h.check("gw:61000", a))
	assert.Equal(t, ssh.FingerprintSHA256(a), h.fingerprint())
	require.NoError(t, h.check("gw:61000", a), "the same key again is fine")

	err := h.check("gw:61000", b)
	require.ErrorIs(t, err, ErrHostKeyMismatch)
	assert.ErrorContains(t, err, "changed its host key during the wait")
	assert.ErrorContains(t, err, ssh.FingerprintSHA256(a))
	assert.ErrorContains(t, err, ssh.FingerprintSHA256(b))
	assert.Equal(t, ssh.FingerprintSHA256(a), h.fingerprint(), "a refused key is never trusted")
}

func TestHostKeyPolicyPinned(t *testing.T) {
	t.Parallel()
	a, b := newSigner(t).PublicKey(), newSigner(t).PublicKey()
	h := &hostKeyPolicy{pinned: ssh.FingerprintSHA256(a)}
	require.NoError(t, h.check("gw:61000", a))
	err := h.check("gw:61000", b)
	require.ErrorIs(t, err, ErrHostKeyMismatch)
	assert.ErrorContains(t, err, "not the pinned")
	assert.NotNil(t, h.lastMismatch())
}

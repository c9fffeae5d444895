package harness

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// newKey makes a fresh ED25519 key: its private half as OpenSSH PEM, with
// comment, and its public half.
func newKey(t testing.TB, comment string) ([]byte, ssh.PublicKey) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), pub
}

// sshdOptions are the sshd_config lines both stand-in sshds share: loopback
// only, public keys only for user, no TTY, X11 or agent, logs that name the
// key; extra follows them.
func sshdOptions(port int, hostKey, authorizedKeys, user string, extra ...string) []string {
	return append([]string{
		"Port " + strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authorizedKeys,
		"PidFile none",
		"AllowUsers " + user,
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"X11Forwarding no",
		"PermitTTY no",
		"AllowAgentForwarding no",
		"LogLevel VERBOSE",
		"MaxStartups 100",
	}, extra...)
}

// sshdConfig is lines as an sshd_config file, with PerSourcePenalties off
// when penalties is set: OpenSSH 9.8+ would lock 127.0.0.1 out after the
// wrong-key tests.
func sshdConfig(lines []string, penalties bool) []byte {
	if penalties {
		lines = append(lines[:len(lines):len(lines)], "PerSourcePenalties no")
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// writeSSHDConfig writes config to path as sshd_config, keeping only options
// this sshd knows: PerSourcePenalties is dropped when sshd -t (older than
// 9.8) rejects it. It returns whether the option was kept; what names the
// sshd in the failure.
func writeSSHDConfig(t testing.TB, sshd, path, what string, config func(penalties bool) []byte) bool {
	t.Helper()
	for _, penalties := range []bool{true, false} {
		if err := os.WriteFile(path, config(penalties), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sshd, "-t", "-f", path).CombinedOutput()
		if err == nil {
			return penalties
		}
		if !penalties || !bytes.Contains(out, []byte("PerSourcePenalties")) {
			t.Fatalf("sshd rejects %s: %v\n%s", what, err, out)
		}
	}
	return false
}

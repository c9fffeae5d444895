package hostscripts

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

const (
	v1 = "18.4.3-ce.0"
	v2 = "18.5.2-ce.0"
	// gitlabV1 is what GitLab calls v1: the Rails app's VERSION, a backup's :gitlab_version:.
	gitlabV1 = "18.4.3"
)

// host is the GitLab host stand-in reached as the provider reaches it: SSH
// through the bastion stand-in to the host's loopback sshd, as root.
type host struct {
	*harness.GitLabHost
	t       *testing.T
	bastion *harness.Bastion
	signer  ssh.Signer
	runs    int
}

func startHost(t *testing.T, options ...harness.GitLabHostOption) *host {
	t.Helper()
	h := harness.StartGitLabHost(t, options...)
	b := harness.StartBastion(t)
	signer, err := ssh.ParsePrivateKey([]byte(b.PrivateKey))
	require.NoError(t, err)
	// The provider uses one key for the bastion and the host.
	h.AuthorizeKey(signer.PublicKey())
	return &host{GitLabHost: h, t: t, bastion: b, signer: signer}
}

// dial connects to the host through the bastion (direct-tcpip), pinning both host keys.
func (h *host) dial() *ssh.Client {
	h.t.Helper()
	pin := func(fp string) ssh.HostKeyCallback {
		return func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if got := ssh.FingerprintSHA256(key); got != fp {
				return fmt.Errorf("host key %s, want %s", got, fp)
			}
			return nil
		}
	}
	jump, err := ssh.Dial("tcp", h.bastion.Addr(), &ssh.ClientConfig{
		User: h.bastion.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(h.signer)},
		HostKeyCallback: pin(h.bastion.HostKeyFingerprint()), Timeout: 10 * time.Second,
	})
	require.NoError(h.t, err, "dial the bastion")
	conn, err := jump.Dial("tcp", h.Addr())
	require.NoError(h.t, err, "forward to the GitLab host")
	c, chans, reqs, err := ssh.NewClientConn(conn, h.Addr(), &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(h.signer)},
		HostKeyCallback: pin(h.HostKeyFingerprint()), Timeout: 10 * time.Second,
	})
	require.NoError(h.t, err, "SSH to the GitLab host")
	client := ssh.NewClient(c, chans, reqs)
	h.t.Cleanup(func() { _ = client.Close(); _ = jump.Close() })
	return client
}

// session runs command in one SSH session with stdin, returning its output and exit status.
func session(t *testing.T, c *ssh.Client, command string, stdin []byte) (string, int) {
	t.Helper()
	s, err := c.NewSession()
	require.NoError(t, err)
	defer s.Close()
	if stdin != nil {
		s.Stdin = bytes.NewReader(stdin)
	}
	out, err := s.CombinedOutput(command)
	if exit, ok := err.(*ssh.ExitError); ok {
		return string(out), exit.ExitStatus()
	}
	require.NoError(t, err, "%s\n%s", command, out)
	return string(out), 0
}

// result is what a run left: its status line, its log and the calls it made.
type result struct {
	runID  string
	status string
	log    string
	calls  []string
}

// apply runs gitlab-kapsule-apply as the provider does (the contract in
// package hostscripts): one session uploads a tar of Files() and the
// payload, one starts apply detached with setsid, then sessions poll the
// status file until it is no longer "running".
func (h *host) apply(s hostscripts.Settings) result {
	h.t.Helper()
	h.runs++
	runID := fmt.Sprintf("run-%d", h.runs)
	require.True(h.t, hostscripts.ValidRunID(runID))
	before := len(h.Calls())
	c := h.dial()

	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	files := append(hostscripts.Files(), hostscripts.File{Path: hostscripts.PayloadPath(runID), Mode: 0o600, Content: hostscripts.Payload(s)})
	for _, f := range files {
		require.NoError(h.t, tw.WriteHeader(&tar.Header{
			Name: strings.TrimPrefix(f.Path, "/"), Mode: int64(f.Mode), Size: int64(len(f.Content)),
			Uid: 0, Gid: 0, Uname: "root", Gname: "root", ModTime: time.Now(), Typeflag: tar.TypeReg,
		}))
		_, err := tw.Write(f.Content)
		require.NoError(h.t, err)
	}
	require.NoError(h.t, tw.Close())
	out, code := session(h.t, c, hostscripts.UploadCommand, archive.Bytes())
	require.Equal(h.t, 0, code, "upload: %s", out)

	out, code = session(h.t, c, hostscripts.ApplyCommand(runID), nil)
	require.Equal(h.t, 0, code, "start apply: %s", out)

	deadline := time.Now().Add(2 * time.Minute)
	var status string
	for {
		status, _ = session(h.t, c, "cat "+hostscripts.StatusPath(runID)+" 2>/dev/null || true", nil)
		status = strings.TrimSpace(status)
		if status != "" && status != hostscripts.StatusRunning {
			break
		}
		require.True(h.t, time.Now().Before(deadline), "apply %s still %q after 2 minutes; log:\n%s", runID, status, h.File(hostscripts.LogPath(runID)))
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := session(h.t, c, "cat "+hostscripts.LogPath(runID), nil)
	h.t.Logf("apply %s: %s\n%s", runID, status, log)
	return result{runID: runID, status: status, log: log, calls: h.Calls()[before:]}
}

// run runs command as root on the host through the bastion.
func (h *host) run(command string) (string, int) {
	h.t.Helper()
	return session(h.t, h.dial(), command, nil)
}

// backup runs the backup script, which must succeed, and returns the ID
// it prints alone on stdout.
func (h *host) backup() string {
	h.t.Helper()
	id, code := h.run(hostscripts.BackupPath + " 2>/dev/null")
	require.Equal(h.t, 0, code, id)
	return strings.TrimSpace(id)
}

// index is the position of the first call starting with prefix (or, for
// "~REGEXP", matching REGEXP), or -1.
func index(calls []string, prefix string) int {
	if re, ok := strings.CutPrefix(prefix, "~"); ok {
		r := regexp.MustCompile(re)
		return slices.IndexFunc(calls, r.MatchString)
	}
	return slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
}

func count(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// requireOrder asserts that each prefix names a call after the one the
// prefix before it named.
func requireOrder(t *testing.T, calls []string, prefixes ...string) {
	t.Helper()
	next, lastPrefix := 0, "(start)"
	for _, p := range prefixes {
		i := index(calls[next:], p)
		require.NotEqual(t, -1, i, "no call %q after %q in:\n%s", p, lastPrefix, strings.Join(calls, "\n"))
		next, lastPrefix = next+i+1, p
	}
}

// settings is a payload for version with fresh secrets, TLS and a bucket on the S3 stand-in.
func settings(t *testing.T, h *host, version string) hostscripts.Settings {
	t.Helper()
	cert, key, ca := tlsFiles(t)
	return hostscripts.Settings{
		Package:             "gitlab-ce",
		Version:             version,
		DataVolumeID:        h.DataVolumeID(),
		GitLabRB:            "external_url 'https://10.0.0.10'\nnginx['ssl_certificate'] = '/etc/gitlab/ssl/gitlab-kapsule.crt'\n",
		RootPassword:        "root-pw '\"$(x) " + randomHex(t),
		AdminToken:          "glpat-" + randomHex(t),
		AdminTokenExpiresAt: time.Now().AddDate(0, 11, 0).Format(time.DateOnly),
		TLSCert:             cert,
		TLSKey:              key,
		CACert:              ca,
		BackupBucket:        harness.S3Bucket,
		BackupRegion:        harness.S3Region,
		BackupEndpoint:      h.S3Endpoint(),
		BackupAccessKey:     harness.S3AccessKey,
		BackupSecretKey:     harness.S3SecretKey,
		BackupSchedule:      "daily",
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// tlsFiles is a throwaway CA and a certificate it signed, as PEM.
func tlsFiles(t *testing.T) (cert, key, ca string) {
	t.Helper()
	caPub, caKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caPub, caKey)
	require.NoError(t, err)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "10.0.0.10"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}, caTmpl, pub, caKey)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
}

// db is the stand-in GitLab's database (tests/harness/gitlabhost/lib/fake_rails.rb).
type db struct {
	Users []struct {
		Username       string `json:"username"`
		PasswordDigest string `json:"password_digest"`
	} `json:"users"`
	Tokens []token `json:"tokens"`
}

type token struct {
	Name        string   `json:"name"`
	Scopes      []string `json:"scopes"`
	ExpiresAt   string   `json:"expires_at"`
	Revoked     bool     `json:"revoked"`
	TokenDigest string   `json:"token_digest"`
}

func (h *host) db() db {
	h.t.Helper()
	b := h.File("/var/opt/gitlab/standin-db.json")
	require.NotNil(h.t, b, "no stand-in database")
	var d db
	require.NoError(h.t, json.Unmarshal(b, &d))
	return d
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (d db) rootPasswordDigest() string {
	for _, u := range d.Users {
		if u.Username == "root" {
			return u.PasswordDigest
		}
	}
	return ""
}

func (d db) token(value string) (token, bool) {
	for _, tk := range d.Tokens {
		if tk.TokenDigest == digest(value) {
			return tk, true
		}
	}
	return token{}, false
}

package engine

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// The secrets the GitLabConfigured test hands the host; none may be in the
// state file, in plain text or base64, nor on a command line on the host.
const (
	configuredPassword1 = "first-root-password-0001"
	configuredPassword2 = "second-root-password-0002"
	configuredToken1    = "glpat-first-admin-token-0001"
	configuredToken2    = "glpat-second-admin-token-0002"
)

// gitlabAPIStandIn answers the two GitLab requests GitLabConfigured's
// readiness wait makes, from the state of the GitLab host stand-in, so that
// what the wait sees is what the host scripts did there:
//   - GET /-/readiness (doc/administration/monitoring/health_check.md): 200
//     with status ok once reconfigure has run (the stand-in's database
//     exists), 502 before, as NGINX answers while Puma is down;
//   - GET /api/v4/version (doc/api/version.md) with PRIVATE-TOKEN: 200 and
//     the installed version when the token is one of the database's
//     personal access tokens, not revoked and not expired (GitLab looks a
//     token up by its SHA256 digest, lib/authn/token_field/digest.rb, as the
//     stand-in's fake_rails.rb stores it), 401 otherwise
//     (doc/api/rest/troubleshooting.md "401 Unauthorized").
type gitlabAPIStandIn struct {
	host *harness.GitLabHost
	Host string
	Port int

	mu sync.Mutex
	// accepted are the tokens /api/v4/version accepted, in order.
	accepted []string
}

func startGitLabAPIStandIn(t *testing.T, host *harness.GitLabHost) *gitlabAPIStandIn {
	t.Helper()
	g := &gitlabAPIStandIn{host: host}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	h, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	g.Host = h
	g.Port, err = strconv.Atoi(port)
	require.NoError(t, err)
	return g
}

// standInDB is the part of the stand-in's database the API reads.
type standInDB struct {
	Tokens []struct {
		Digest    string `json:"token_digest"`
		Revoked   bool   `json:"revoked"`
		ExpiresAt string `json:"expires_at"`
	} `json:"tokens"`
}

// tokenWorks tells whether GitLab would take token on its API now.
func (g *gitlabAPIStandIn) tokenWorks(token string) bool {
	raw := g.host.File("/var/opt/gitlab/standin-db.json")
	var db standInDB
	if raw == nil || json.Unmarshal(raw, &db) != nil {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	digest, today := hex.EncodeToString(sum[:]), time.Now().UTC().Format(time.DateOnly)
	for _, tok := range db.Tokens {
		if tok.Digest == digest && !tok.Revoked && tok.ExpiresAt >= today {
			return true
		}
	}
	return false
}

func (g *gitlabAPIStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if g.host.File("/var/opt/gitlab/standin-db.json") == nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	switch r.URL.Path {
	case "/-/readiness":
		_, _ = w.Write([]byte(`{"status":"ok","master_check":[{"status":"ok"}]}`))
	case "/api/v4/version":
		token := r.Header.Get("PRIVATE-TOKEN")
		if !g.tokenWorks(token) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"401 Unauthorized"}`))
			return
		}
		g.mu.Lock()
		g.accepted = append(g.accepted, token)
		g.mu.Unlock()
		version := strings.TrimSpace(string(g.host.File("/opt/gitlab/embedded/service/gitlab-rails/VERSION")))
		_ = json.NewEncoder(w).Encode(map[string]string{"version": version, "revision": "standin"})
	default:
		http.NotFound(w, r)
	}
}

// acceptedToken tells whether the API took token at least once.
func (g *gitlabAPIStandIn) acceptedToken(token string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Contains(g.accepted, token)
}

// configuredSettings are what the program's GitLabConfigured is given;
// each up of the test changes some of them.
type configuredSettings struct {
	instance, version, password, token string
}

// TestGitLabConfiguredUnderEngine runs GitLabConfigured through the real
// engine and the provider plugin, through the harness's OpenSSH bastion, to
// the GitLab host stand-in (a sandboxed OpenSSH sshd running the real host
// scripts over stand-ins of GitLab, apt, the block device and S3):
//   - a preview dials nothing and runs nothing;
//   - the create formats and mounts the data volume, installs the pinned
//     package, reconfigures, sets the root password, installs the admin
//     token and the backup timer, in that order, puts the TLS key (root
//     0600) and the CA where gitlab.rb and Omnibus look, streams the
//     apply's log to the engine, then waits until GitLab takes the token;
//   - a second up changes nothing and opens no connection;
//   - a version change backs up to the bucket before the install;
//   - a version change across a required upgrade stop fails the preview
//     and the up, naming the stop, with nothing run on the host and
//     nothing dialed;
//   - a new root password and token reach the host (the stand-ins got the
//     new values) and GitLab takes the new token, not the old one;
//   - a new instanceId runs every step again;
//   - destroy succeeds with the host unreachable (the bastion stopped);
//   - the state file holds no secret in plain text or base64, and no
//     command line on the host ever held one.
func TestGitLabConfiguredUnderEngine(t *testing.T) {
	eng := harness.NewEngine(t)
	b := harness.StartBastion(t)
	host := harness.StartGitLabHost(t)
	signer, err := ssh.ParsePrivateKey([]byte(b.PrivateKey))
	require.NoError(t, err)
	// Scaleway puts the project's IAM SSH keys, the automation's among
	// them, in root's authorized_keys: the bastion's key is the host's.
	host.AuthorizeKey(signer.PublicKey())
	api := startGitLabAPIStandIn(t, host)
	_, sshPort, err := net.SplitHostPort(host.Addr())
	require.NoError(t, err)
	port, err := strconv.Atoi(sshPort)
	require.NoError(t, err)
	expiry := time.Now().UTC().AddDate(0, 6, 0).Format(time.DateOnly)
	tlsCert, tlsKey := selfSignedCert(t, "10.0.0.10")
	access := b.Access(api.Host, api.Port, 3*time.Minute, 500*time.Millisecond)
	access.CaCert = pulumi.String(tlsCert)

	cfg := configuredSettings{instance: "fr-par-1/instance-1", version: "18.5.2-ce.0", password: configuredPassword1, token: configuredToken1}
	program := func(ctx *pulumi.Context) error {
		r, err := gitlabwait.NewGitLabConfigured(ctx, "gitlab-config", &gitlabwait.GitLabConfiguredArgs{
			Access:              access,
			SshPort:             pulumi.Int(port),
			InstanceId:          pulumi.String(cfg.instance),
			DataVolumeId:        pulumi.String(host.DataVolumeID()),
			Package:             pulumi.String("gitlab-ce"),
			PackageVersion:      pulumi.String(cfg.version),
			GitlabRb:            pulumi.String("external_url 'http://10.0.0.10'\n"),
			RootPassword:        pulumi.String(cfg.password),
			AdminToken:          pulumi.String(cfg.token),
			AdminTokenExpiresAt: pulumi.String(expiry),
			TlsCert:             pulumi.String(tlsCert),
			TlsKey:              pulumi.String(tlsKey),
			Backup: &gitlabwait.GitLabBackupArgs{
				Bucket:    pulumi.String(harness.S3Bucket),
				Region:    pulumi.String(harness.S3Region),
				Endpoint:  pulumi.String(host.S3URL()),
				AccessKey: pulumi.String(harness.S3AccessKey),
				SecretKey: pulumi.String(harness.S3SecretKey),
				Schedule:  pulumi.String("daily"),
			},
		})
		if err != nil {
			return err
		}
		ctx.Export("version", r.Version)
		ctx.Export("previousVersion", r.PreviousVersion)
		ctx.Export("hostKey", r.SshHostKeyFingerprint)
		ctx.Export("tokenExpiresAt", r.TokenExpiresAt)
		ctx.Export("configuredAt", r.ConfiguredAt)
		return nil
	}
	s := gitlabwaitStack(t, eng, "gitlabconfigured", program)
	up := func(t *testing.T) (auto.UpResult, string) {
		t.Helper()
		var out bytes.Buffer
		res, err := s.Up(t.Context(), optup.ProgressStreams(&out, testWriter{t}))
		require.NoError(t, err)
		return res, out.String()
	}
	callsSince := func(n int) []string { return host.Calls()[n:] }

	harness.Preview(t, s)
	assert.Zero(t, b.Connections(), "a preview dials nothing")
	assert.Empty(t, host.Calls(), "a preview runs nothing on the host")

	created, log := up(t)
	assert.Equal(t, map[string]int{"create": 2}, harness.Changed(created.Summary))
	calls := host.Calls()
	inOrder(t, calls,
		"blkid -p -o value -s TYPE /dev/disk/by-id/scsi-0SCW_sbs_volume-",
		"mkfs.ext4 ",
		"mount ",
		"apt-get -o DPkg::Lock::Timeout=600 update",
		"apt-get -o DPkg::Lock::Timeout=600 install -y -q gitlab-ce=18.5.2-ce.0",
		"gitlab-ctl reconfigure",
		"gitlab-rails runner "+hostscripts.LibDir+"/set-root-password.rb",
		"gitlab-rails runner "+hostscripts.LibDir+"/ensure-admin-token.rb",
		"systemctl enable --now gitlab-kapsule-backup.timer",
	)
	assert.False(t, hasPrefix(calls, "gitlab-backup "), "a fresh install backs nothing up")
	assert.Contains(t, log, "gitlab host: gitlab-kapsule-apply: install: installing gitlab-ce=18.5.2-ce.0", "the apply's log reaches the engine")
	assert.Equal(t, "18.5.2-ce.0", output(t, created.Outputs, "version"))
	assert.Equal(t, host.HostKeyFingerprint(), output(t, created.Outputs, "hostKey"), "the host key is trusted on first use")
	assert.Equal(t, expiry, output(t, created.Outputs, "tokenExpiresAt"))
	assert.True(t, api.acceptedToken(configuredToken1), "the wait ended when GitLab took the admin token")
	assert.Contains(t, host.EnvRecords(), "apt-get GITLAB_ROOT_PASSWORD="+configuredPassword1, "the first install seeds the root password")
	assert.Equal(t, tlsKey, string(host.File("/etc/gitlab/ssl/gitlab-kapsule.key")), "the TLS key reached the host")
	if mode, uid, _, ok := host.Stat("/etc/gitlab/ssl/gitlab-kapsule.key"); assert.True(t, ok) {
		assert.Equal(t, "-rw-------", mode.String(), "the TLS key is root's alone")
		assert.Zero(t, uid)
	}
	assert.Equal(t, tlsCert, string(host.File("/etc/gitlab/trusted-certs/gitlab-kapsule-ca.crt")), "the CA is among GitLab's trusted certificates")
	connections := b.Connections()

	again, _ := up(t)
	assert.Empty(t, harness.Changed(again.Summary), "a second up changes nothing")
	assert.Len(t, host.Calls(), len(calls), "a second up runs nothing on the host")
	assert.Equal(t, connections, b.Connections(), "a second up dials nothing")

	cfg.version = "18.5.3-ce.0"
	n := len(host.Calls())
	upgraded, _ := up(t)
	assert.Equal(t, map[string]int{"update": 1}, harness.Changed(upgraded.Summary), "an upgrade is an update in place")
	inOrder(t, callsSince(n), "gitlab-backup create", "apt-get -o DPkg::Lock::Timeout=600 install -y -q gitlab-ce=18.5.3-ce.0", "gitlab-ctl reconfigure")
	assert.NotEmpty(t, host.S3Keys(), "the backup went to the bucket (refused: %q)", host.S3Refused())
	assert.Equal(t, "18.5.3-ce.0", output(t, upgraded.Outputs, "version"))
	assert.Equal(t, "18.5.2-ce.0", output(t, upgraded.Outputs, "previousVersion"))

	// 18.5 to 18.9 skips the required stop 18.8.
	cfg.version = "18.9.0-ce.0"
	n, connections = len(host.Calls()), b.Connections()
	_, err = s.Preview(t.Context(), optpreview.ProgressStreams(testWriter{t}))
	require.Error(t, err, "a preview of an upgrade across a required stop fails")
	assert.Contains(t, err.Error(), "skips GitLab's required upgrade stop 18.8", "the stop is named")
	_, err = s.Up(t.Context(), optup.ProgressStreams(testWriter{t}))
	require.Error(t, err, "an upgrade across a required stop is refused")
	assert.Contains(t, err.Error(), "skips GitLab's required upgrade stop 18.8", "the stop is named")
	assert.Empty(t, callsSince(n), "a refused upgrade runs nothing on the host")
	assert.Equal(t, connections, b.Connections(), "a refused upgrade dials nothing")
	cfg.version = "18.5.3-ce.0"

	cfg.password, cfg.token = configuredPassword2, configuredToken2
	n = len(host.Calls())
	rotated, _ := up(t)
	assert.Equal(t, map[string]int{"update": 1}, harness.Changed(rotated.Summary))
	env := host.EnvRecords()
	assert.Contains(t, env, "gitlab-rails GLK_ROOT_PASSWORD="+configuredPassword2, "the new password reached the host")
	assert.Contains(t, env, "gitlab-rails GLK_ADMIN_TOKEN="+configuredToken2, "the new token reached the host")
	assert.True(t, api.acceptedToken(configuredToken2), "GitLab takes the new token")
	assert.False(t, api.tokenWorks(configuredToken1), "and no longer the old one")
	assert.False(t, hasPrefix(callsSince(n), "apt-get -o DPkg::Lock::Timeout=600 install"), "a rotation installs nothing")

	cfg.instance = "fr-par-1/instance-2"
	n = len(host.Calls())
	replaced, log := up(t)
	assert.Equal(t, map[string]int{"update": 1}, harness.Changed(replaced.Summary), "a new instance is an update: the data volume stays")
	inOrder(t, callsSince(n),
		"blkid -p -o value -s TYPE /dev/disk/by-id/scsi-0SCW_sbs_volume-",
		"gitlab-ctl reconfigure",
		"gitlab-rails runner "+hostscripts.LibDir+"/set-root-password.rb",
		"gitlab-rails runner "+hostscripts.LibDir+"/ensure-admin-token.rb",
		"systemctl enable --now gitlab-kapsule-backup.timer",
	)
	assert.Contains(t, log, "gitlab-kapsule-apply: backup_timer: start", "every step ran again")
	assert.Equal(t, host.HostKeyFingerprint(), output(t, replaced.Outputs, "hostKey"))

	secrets := []string{configuredPassword1, configuredPassword2, configuredToken1, configuredToken2, harness.S3SecretKey, tlsKey, b.PrivateKey}
	stateHidesSecrets(t, eng, s, secrets, []string{configuredPassword2, configuredToken2, harness.S3SecretKey, tlsKey, b.PrivateKey})
	for _, line := range host.CommandLines() {
		for _, secret := range secrets {
			assert.NotContains(t, line, longestLine(secret), "a secret on a command line of the host")
		}
	}

	// The host goes with its server: destroy reaches nothing.
	b.Stop(t)
	n = len(host.Calls())
	harness.Destroy(t, s)
	assert.Empty(t, callsSince(n), "destroy runs nothing on the host")
}

// stateHidesSecrets fails the test if the stack's state file holds one of
// secrets in plain text or base64; a secret of several lines (a key) is
// looked for by its longest line, as JSON escapes its newlines. The
// decrypted export must hold each current secret: the control that they
// are in the state at all.
func stateHidesSecrets(t *testing.T, eng *harness.Engine, s auto.Stack, secrets, current []string) {
	t.Helper()
	file, raw := stateFile(t, eng, s)
	exported, err := s.Export(t.Context())
	require.NoError(t, err)
	for _, secret := range secrets {
		fragment := longestLine(secret)
		encoded := base64.StdEncoding.EncodeToString([]byte(secret))
		if strings.Contains(string(raw), fragment) || strings.Contains(string(raw), encoded) {
			t.Errorf("the state file %s holds a secret in plain text or base64 (%.12s...)", file, fragment)
		}
	}
	for _, secret := range current {
		assert.Contains(t, string(exported.Deployment), longestLine(secret), "the decrypted state holds the secret: the check proves something")
	}
}

// selfSignedCert is a PEM certificate for ip and its PKCS#8 key.
func selfSignedCert(t *testing.T, ip string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: ip}, IPAddresses: []net.IP{net.ParseIP(ip)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}))
}

func longestLine(s string) string {
	longest := ""
	for _, line := range strings.Split(s, "\n") {
		if len(line) > len(longest) {
			longest = line
		}
	}
	return longest
}

// inOrder fails the test unless calls has, in this order, a call starting
// with each of wants (other calls may come between).
func inOrder(t *testing.T, calls []string, wants ...string) {
	t.Helper()
	i := 0
	for _, c := range calls {
		if i < len(wants) && strings.HasPrefix(c, wants[i]) {
			i++
		}
	}
	if i < len(wants) {
		t.Errorf("the host's calls lack %q after %q; calls:\n%s", wants[i], wants[:i], strings.Join(calls, "\n"))
	}
}

func hasPrefix(calls []string, prefix string) bool {
	return slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
}

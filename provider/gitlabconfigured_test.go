package provider

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
)

const configuredToken = "gitlabwait:index:GitLabConfigured"

var configuredURN = presource.NewURN("test", "provider", "", configuredToken, "configured")

// Secrets of the tests' inputs: none may appear in an error or in plain state.
const (
	testRootPassword = "root-password-never-plain"
	testAdminToken   = "glpat-admin-token-never-plain"
	testBackupSecret = "s3-secret-never-plain"
)

// configuredEnv is GitLabConfigured served against a fake bastion, a fake
// GitLab host's sshd and a fake GitLab API, on a fake clock.
type configuredEnv struct {
	key     string
	bastion *fakeBastion
	host    *fakeHost
	api     *fakeGitLabAPI
	apiHost string
	apiPort int
	// sshPort is the fake host's port.
	sshPort int
	server  integration.Server
}

func newConfiguredEnv(t *testing.T) *configuredEnv {
	t.Helper()
	key, signer := newKeyPEM(t)
	api := &fakeGitLabAPI{token: testAdminToken}
	apiHost, apiPort := startGitLab(t, api)
	fb := newFakeBastion(t, signer)
	host := newFakeHost(t, signer.PublicKey())
	env := &configuredEnv{key: key, bastion: fb, host: host, api: api, apiHost: apiHost, apiPort: apiPort, sshPort: host.port()}
	env.server = newServer(t, Options{Waiter: &Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}, Recheck: func(context.Context) bool { return false }})
	return env
}

// inputs are GitLabConfigured's inputs for the fake host, then extra.
func (e *configuredEnv) inputs(extra map[string]property.Value) property.Map {
	m := accessInputs(e.key, e.apiHost, e.apiPort)
	maps.Copy(m, map[string]property.Value{
		"sshPort":             property.New(float64(e.sshPort)),
		"instanceId":          property.New("fr-par-1/instance-1"),
		"dataVolumeId":        property.New("fr-par-1/11111111-2222-3333-4444-555555555555"),
		"package":             property.New("gitlab-ce"),
		"packageVersion":      property.New("18.5.2-ce.0"),
		"gitlabRb":            property.New("external_url 'http://10.0.0.10'\n"),
		"rootPassword":        property.New(testRootPassword).WithSecret(true),
		"adminToken":          property.New(testAdminToken).WithSecret(true),
		"adminTokenExpiresAt": property.New("2027-06-30"),
		"backup": property.New(property.NewMap(map[string]property.Value{
			"bucket": property.New("glk-dev-gitlab-backups"), "region": property.New("fr-par"),
			"endpoint": property.New("https://s3.fr-par.scw.cloud"), "accessKey": property.New("SCWACCESS"),
			"secretKey": property.New(testBackupSecret).WithSecret(true), "schedule": property.New("daily"),
		})),
	})
	maps.Copy(m, extra)
	return property.NewMap(m)
}

// kinds sorts a host's session commands into look (for an earlier apply),
// upload, start and poll.
func kinds(cmds []string) []string {
	var out []string
	for _, c := range cmds {
		switch {
		case c == earlierCommand():
			out = append(out, "look")
		case c == hostscripts.UploadCommand:
			out = append(out, "upload")
		case startRE.MatchString(c):
			out = append(out, "start")
		case pollRE.MatchString(c):
			out = append(out, "poll")
		default:
			out = append(out, c)
		}
	}
	return out
}

// runIDOf is the run id of the single start among cmds.
func runIDOf(t *testing.T, cmds []string) string {
	t.Helper()
	var ids []string
	for _, c := range cmds {
		if m := startRE.FindStringSubmatch(c); m != nil {
			ids = append(ids, m[1])
		}
	}
	require.Len(t, ids, 1, "one start: %q", cmds)
	return ids[0]
}

// TestGitLabConfiguredLifecycle: a create uploads the scripts and the
// payload (0600, rendered by hostscripts from the inputs), starts the apply
// once, polls until it exits 0 and then waits for GitLab with the admin
// token; it trusts and records the host's key. An update of the timeout
// only dials nothing; a version change runs again with the key pinned and
// records the previous version; a new instance with a new key runs in full
// and trusts the new key. Secrets stay secrets in state.
func TestGitLabConfiguredLifecycle(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	firstKey := env.host.fingerprint()
	integration.LifeCycleTest{
		Resource: configuredToken,
		Create: integration.Operation{
			Inputs: env.inputs(nil),
			Hook: func(_, out property.Map) {
				cmds := env.host.sessions()
				require.Equal(t, []string{"look", "upload", "start", "poll", "poll"}, kinds(cmds), "no earlier apply runs; upload, start, then polls until exit 0")
				runID := runIDOf(t, cmds)
				for _, f := range hostscripts.Files() {
					got, ok := env.host.file(f.Path)
					if assert.True(t, ok, "%s uploaded", f.Path) {
						assert.Equal(t, f.Mode.Perm(), got.mode, f.Path)
						assert.Equal(t, string(f.Content), string(got.content), f.Path)
					}
				}
				payload, ok := env.host.file(hostscripts.PayloadPath(runID))
				require.True(t, ok, "the payload is uploaded under the run's id")
				assert.Equal(t, 0o600, int(payload.mode), "the payload is root's alone")
				want := hostSettings(GitLabConfiguredArgs{
					Access: Access{CaCert: ""}, DataVolumeID: "fr-par-1/11111111-2222-3333-4444-555555555555",
					Package: "gitlab-ce", PackageVersion: "18.5.2-ce.0", GitLabRb: "external_url 'http://10.0.0.10'\n",
					RootPassword: testRootPassword, AdminToken: testAdminToken, AdminTokenExpiresAt: "2027-06-30",
					Backup: &GitLabBackup{Bucket: "glk-dev-gitlab-backups", Region: "fr-par", Endpoint: "https://s3.fr-par.scw.cloud",
						AccessKey: "SCWACCESS", SecretKey: testBackupSecret, Schedule: "daily"},
				})
				assert.Equal(t, string(hostscripts.Payload(want)), string(payload.content), "the payload is hostscripts' rendering of the inputs")
				assert.Contains(t, string(payload.content), "GLK_BACKUP_ENDPOINT='s3.fr-par.scw.cloud'\n", "the scripts take the endpoint's host")
				assert.Contains(t, env.api.requests(), "/api/v4/version", "GitLab is waited for with the admin token")

				assert.Equal(t, firstKey, out.Get("sshHostKeyFingerprint").AsString(), "the host key is trusted on first use")
				assert.Equal(t, ssh.FingerprintSHA256(env.bastion.hostSigner.PublicKey()), out.Get("bastionHostKeyFingerprint").AsString())
				assert.Equal(t, "18.5.2-ce.0", out.Get("version").AsString())
				assert.Empty(t, out.Get("previousVersion").AsString())
				assert.Equal(t, "2027-06-30", out.Get("tokenExpiresAt").AsString())
				assert.NotEmpty(t, out.Get("configuredAt").AsString())
				assert.Equal(t, "45m", out.Get("timeout").AsString(), "defaults are applied")
				assert.Equal(t, "root", out.Get("sshUser").AsString())
				for _, k := range []string{"privateKey", "rootPassword", "adminToken"} {
					assert.True(t, out.Get(k).Secret(), "%s stays a secret in state", k)
				}
				assert.True(t, out.Get("backup").AsMap().Get("secretKey").Secret(), "the backup's secret key stays a secret")
			},
		},
		Updates: []integration.Operation{{
			Inputs: env.inputs(map[string]property.Value{"timeout": property.New("1h")}),
			Hook: func(_, out property.Map) {
				assert.Empty(t, env.host.sessions(), "a new timeout reaches nothing on the host")
				assert.Equal(t, "1h", out.Get("timeout").AsString())
			},
		}, {
			Inputs: env.inputs(map[string]property.Value{"timeout": property.New("1h"), "packageVersion": property.New("18.5.3-ce.0")}),
			Hook: func(_, out property.Map) {
				assert.Equal(t, []string{"look", "upload", "start", "poll", "poll"}, kinds(env.host.sessions()), "a version change runs again")
				assert.Equal(t, "18.5.3-ce.0", out.Get("version").AsString())
				assert.Equal(t, "18.5.2-ce.0", out.Get("previousVersion").AsString())
				assert.Equal(t, firstKey, out.Get("sshHostKeyFingerprint").AsString())
				// The next operation is a replaced server: a new key comes with it.
				env.host.rotateHostKey()
			},
		}, {
			Inputs: env.inputs(map[string]property.Value{"timeout": property.New("1h"), "packageVersion": property.New("18.5.3-ce.0"),
				"instanceId": property.New("fr-par-1/instance-2")}),
			Hook: func(_, out property.Map) {
				assert.Equal(t, []string{"look", "upload", "start", "poll", "poll"}, kinds(env.host.sessions()), "a new instance is configured in full")
				assert.NotEqual(t, firstKey, out.Get("sshHostKeyFingerprint").AsString())
				assert.Equal(t, env.host.fingerprint(), out.Get("sshHostKeyFingerprint").AsString(), "a new instance's key is trusted anew")
				assert.Equal(t, "18.5.2-ce.0", out.Get("previousVersion").AsString(), "no version change: the previous version stays")
			},
		}},
	}.Run(t, env.server)
}

// TestGitLabConfiguredRefusesAnotherHostKey: once an instance's key is
// trusted, the same instanceId with another key is refused before any
// upload, naming the instance; nothing is uploaded.
func TestGitLabConfiguredRefusesAnotherHostKey(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	check, created, err := checkAndCreate(t, env.server, configuredURN, env.inputs(nil))
	require.NoError(t, err)
	_ = env.host.sessions()
	env.host.rotateHostKey()
	news := env.inputs(map[string]property.Value{"adminToken": property.New("glpat-rotated").WithSecret(true)})
	newCheck, err := env.server.Check(p.CheckRequest{Urn: configuredURN, State: check.Inputs, Inputs: news})
	require.NoError(t, err)
	require.Empty(t, newCheck.Failures)
	_, err = env.server.Update(p.UpdateRequest{ID: created.ID, Urn: configuredURN, State: created.Properties, Inputs: newCheck.Inputs, OldInputs: check.Inputs})
	require.ErrorContains(t, err, "fr-par-1/instance-1")
	require.ErrorContains(t, err, "trusted when this instance was first configured")
	assert.Empty(t, env.host.sessions(), "no session on a host whose key changed")
}

// TestGitLabConfiguredFailureNamesTheStep: an apply that exits non-zero
// fails the create at once, naming the step and the code, with the log's
// last 20 lines (and not the ones before), and never a secret.
func TestGitLabConfiguredFailureNamesTheStep(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	var chunks []string
	for i := 1; i <= 30; i++ {
		chunks = append(chunks, "gitlab-kapsule-apply: install: line -"+strconv.Itoa(i)+"\n")
	}
	env.host.script = fakeScript{chunks: []string{strings.Join(chunks[:15], ""), strings.Join(chunks[15:], "")}, status: "exit 100 install"}
	_, _, err := checkAndCreate(t, env.server, configuredURN, env.inputs(nil))
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `failed at step "install" (exit 100)`)
	assert.True(t, strings.HasSuffix(msg, "line -30"), "the last line")
	assert.Contains(t, msg, "-11\n", "the 20th line from the end")
	assert.NotContains(t, msg, "-10\n", "only the last 20 lines")
	for _, secret := range []string{testRootPassword, testAdminToken, testBackupSecret, base64.StdEncoding.EncodeToString([]byte(testRootPassword))} {
		assert.NotContains(t, msg, secret)
	}
	assert.NotContains(t, env.api.requests(), "/-/readiness", "a failed apply waits for nothing")
}

// TestGitLabConfiguredSurvivesADroppedConnection: the connection dropping
// while the apply runs (the poll's answer lost) costs a reconnection, not
// the run: the apply is started once and its end is still seen.
func TestGitLabConfiguredSurvivesADroppedConnection(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	env.host.script.chunks = append(env.host.script.chunks, "gitlab-kapsule-apply: reconfigure: start\n")
	env.host.dropAfterPolls = 1
	_, created, err := checkAndCreate(t, env.server, configuredURN, env.inputs(nil))
	require.NoError(t, err)
	got := kinds(env.host.sessions())
	assert.Equal(t, 1, count(got, "start"), "started once: %q", got)
	assert.Equal(t, 1, count(got, "upload"))
	assert.GreaterOrEqual(t, count(got, "poll"), 3, "polled again after the drop")
	assert.NotEmpty(t, created.Properties.Get("configuredAt").AsString())
}

// TestGitLabConfiguredStartsAgainAfterAReboot: a host that reboots while
// the apply runs loses /run, the run's marker and status with it: the run
// is uploaded and started again (the apply is idempotent) and its end seen.
func TestGitLabConfiguredStartsAgainAfterAReboot(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	env.host.rebootAfterPolls = 1
	_, created, err := checkAndCreate(t, env.server, configuredURN, env.inputs(nil))
	require.NoError(t, err)
	got := kinds(env.host.sessions())
	assert.Equal(t, 2, count(got, "upload"), "uploaded again after the reboot: %q", got)
	assert.Equal(t, 2, count(got, "start"), "started again after the reboot: %q", got)
	assert.NotEmpty(t, created.Properties.Get("configuredAt").AsString())
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// TestGitLabConfiguredCheck: invalid inputs are reported by key without
// quoting a secret; a version change across a required upgrade stop, a
// downgrade and gitlab-ee to gitlab-ce are refused (the stops named);
// gitlab-ce to gitlab-ee and a fresh install of any version are not.
func TestGitLabConfiguredCheck(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	check := func(olds property.Map, extra map[string]property.Value) map[string]string {
		resp, err := env.server.Check(p.CheckRequest{Urn: configuredURN, State: olds, Inputs: env.inputs(extra)})
		require.NoError(t, err)
		got := map[string]string{}
		for _, f := range resp.Failures {
			got[f.Property] = f.Reason
		}
		return got
	}
	at := func(pkg, version string) property.Map {
		return env.inputs(map[string]property.Value{"package": property.New(pkg), "packageVersion": property.New(version)})
	}

	bad := check(property.Map{}, map[string]property.Value{
		"rootPassword": property.New("short").WithSecret(true), "packageVersion": property.New("18.5"),
		"adminTokenExpiresAt": property.New("2027-13-45"), "sshPort": property.New(70000.0),
		"tlsCert": property.New("junk"), "package": property.New("gitlab"),
		"backup": property.New(property.NewMap(map[string]property.Value{
			"bucket": property.New("b"), "region": property.New("fr-par"), "endpoint": property.New("http://s3.fr-par.scw.cloud"),
			"accessKey": property.New("a"), "secretKey": property.New("").WithSecret(true),
		})),
	})
	for _, k := range []string{"rootPassword", "packageVersion", "adminTokenExpiresAt", "sshPort", "tlsKey", "package", "backup.endpoint", "backup.secretKey"} {
		assert.Contains(t, bad, k)
	}
	assert.NotContains(t, bad["rootPassword"], "short", "a secret is never quoted")

	assert.Empty(t, check(property.Map{}, map[string]property.Value{"packageVersion": property.New("18.8.1-ce.0")}), "a fresh install takes any version")
	assert.Empty(t, check(property.Map{}, map[string]property.Value{
		"dataVolumeId": property.New(property.Computed),
		"backup": property.New(property.NewMap(map[string]property.Value{
			"bucket": property.New("b"), "region": property.New("fr-par"), "endpoint": property.New("https://s3.fr-par.scw.cloud"),
			"accessKey": property.New(property.Computed), "secretKey": property.New(property.Computed).WithSecret(true),
		})),
	}), "what a first preview does not know yet (the volume, the bucket's new API key) is checked later")
	crossing := check(at("gitlab-ce", "18.0.1-ce.0"), map[string]property.Value{"packageVersion": property.New("18.6.0-ce.0")})
	require.Contains(t, crossing, "packageVersion")
	assert.Contains(t, crossing["packageVersion"], "18.2, 18.5", "the stops are named")
	down := check(at("gitlab-ce", "18.5.2-ce.0"), map[string]property.Value{"packageVersion": property.New("18.4.1-ce.0")})
	assert.Contains(t, down["packageVersion"], "downgraded")
	eeToCE := check(at("gitlab-ee", "18.5.2-ee.0"), nil)
	assert.Contains(t, eeToCE["package"], "downgrade_ee_to_ce")
	assert.Empty(t, check(at("gitlab-ce", "18.5.2-ce.0"), map[string]property.Value{
		"package": property.New("gitlab-ee"), "packageVersion": property.New("18.5.2-ee.0")}), "CE to EE is installed over CE")
	assert.Empty(t, check(at("gitlab-ce", "18.5.2-ce.0"), map[string]property.Value{"packageVersion": property.New("18.5.3-ce.0")}), "a patch")
	mismatch := check(property.Map{}, map[string]property.Value{"packageVersion": property.New("18.5.2-ee.0")})
	assert.Contains(t, mismatch["packageVersion"], "not of gitlab-ce")
}

// TestGitLabConfiguredDiff: every change is an update, never a
// replacement, the new instance's included; defaults spelled out and an
// equal backup are no change.
func TestGitLabConfiguredDiff(t *testing.T) {
	t.Parallel()
	base := GitLabConfiguredArgs{Access: Access{BastionHost: "gw", BastionPort: 61000, PrivateKey: "k", TargetHost: "10.0.0.10"},
		InstanceID: "i-1", DataVolumeID: "v-1", Package: "gitlab-ce", PackageVersion: "18.5.2-ce.0", GitLabRb: "rb",
		RootPassword: "pw", AdminToken: "t", AdminTokenExpiresAt: "2027-01-01", Backup: &GitLabBackup{Bucket: "b", SecretKey: "s"}}
	state := GitLabConfiguredState{GitLabConfiguredArgs: base.withDefaults(), ConfiguredAt: "2026-01-01T00:00:00Z"}
	same := base
	same.SSHPort, same.SSHUser, same.Timeout, same.TargetPort = 22, "root", "45m", 80
	same.Backup = &GitLabBackup{Bucket: "b", SecretKey: "s"}
	testDiffCases(t, &GitLabConfigured{}, state, base, same, []diffCase[GitLabConfiguredArgs]{
		{"new instance", func(a *GitLabConfiguredArgs) { a.InstanceID = "i-2" }, "instanceId", p.Update},
		{"new address", func(a *GitLabConfiguredArgs) { a.TargetHost = "10.0.0.11" }, "targetHost", p.Update},
		{"version", func(a *GitLabConfiguredArgs) { a.PackageVersion = "18.5.3-ce.0" }, "packageVersion", p.Update},
		{"password", func(a *GitLabConfiguredArgs) { a.RootPassword = "pw2" }, "rootPassword", p.Update},
		{"token", func(a *GitLabConfiguredArgs) { a.AdminToken = "t2" }, "adminToken", p.Update},
		{"backup key", func(a *GitLabConfiguredArgs) { a.Backup = &GitLabBackup{Bucket: "b", SecretKey: "s2"} }, "backup", p.Update},
		{"no backup", func(a *GitLabConfiguredArgs) { a.Backup = nil }, "backup", p.Update},
		{"scheme", func(a *GitLabConfiguredArgs) { a.Scheme = "https" }, "scheme", p.Update},
	})
}

// TestGitLabConfiguredReachesHostOnlyWhenTheHostChanges: what the payload
// carries, the instance or the address runs the apply again; the bastion's
// key, address, the timeout or the SSH port are only recorded.
func TestGitLabConfiguredReachesHostOnlyWhenTheHostChanges(t *testing.T) {
	t.Parallel()
	base := GitLabConfiguredArgs{InstanceID: "i-1", DataVolumeID: "v", Package: "gitlab-ce", PackageVersion: "18.5.2-ce.0", GitLabRb: "rb",
		RootPassword: "pw", AdminToken: "t", AdminTokenExpiresAt: "2027-01-01"}
	for name, tc := range map[string]struct {
		change func(*GitLabConfiguredArgs)
		runs   bool
	}{
		"password":  {func(a *GitLabConfiguredArgs) { a.RootPassword = "pw2" }, true},
		"token":     {func(a *GitLabConfiguredArgs) { a.AdminToken = "t2" }, true},
		"expiry":    {func(a *GitLabConfiguredArgs) { a.AdminTokenExpiresAt = "2028-01-01" }, true},
		"gitlab.rb": {func(a *GitLabConfiguredArgs) { a.GitLabRb = "rb2" }, true},
		"ca":        {func(a *GitLabConfiguredArgs) { a.CaCert = "ca" }, true},
		"backup":    {func(a *GitLabConfiguredArgs) { a.Backup = &GitLabBackup{Bucket: "b"} }, true},
		"instance":  {func(a *GitLabConfiguredArgs) { a.InstanceID = "i-2" }, true},
		"address":   {func(a *GitLabConfiguredArgs) { a.TargetHost = "10.0.0.11" }, true},
		"key":       {func(a *GitLabConfiguredArgs) { a.PrivateKey = "k2" }, false},
		"bastion":   {func(a *GitLabConfiguredArgs) { a.BastionHost = "gw2" }, false},
		"timeout":   {func(a *GitLabConfiguredArgs) { a.Timeout = "2h" }, false},
		"ssh port":  {func(a *GitLabConfiguredArgs) { a.SSHPort = 2222 }, false},
	} {
		news := base
		tc.change(&news)
		assert.Equal(t, tc.runs, reachesHost(base, news), name)
	}
}

// TestGitLabConfiguredNoDialOnPreviewReadOrDelete: a preview's create, a
// refresh that is not asked to recheck and a delete dial nothing: destroy
// works with the host (and the bastion) gone.
func TestGitLabConfiguredNoDialOnPreviewReadOrDelete(t *testing.T) {
	t.Parallel()
	key, _ := newKeyPEM(t)
	s := newServer(t, Options{Waiter: &Waiter{DialSSH: func(context.Context, string, *ssh.ClientConfig) (*ssh.Client, error) {
		t.Error("dialed the bastion")
		return nil, errors.New("no dialing here")
	}}, Recheck: func(context.Context) bool { return false }})
	env := &configuredEnv{key: key, apiHost: "10.0.0.10", apiPort: 80, sshPort: 22}
	in := env.inputs(map[string]property.Value{"targetHost": property.New(property.Computed)})
	check, err := s.Check(p.CheckRequest{Urn: configuredURN, Inputs: in})
	require.NoError(t, err)
	require.Empty(t, check.Failures)
	preview, err := s.Create(p.CreateRequest{Urn: configuredURN, Properties: check.Inputs, DryRun: true})
	require.NoError(t, err)
	for _, k := range []string{"configuredAt", "sshHostKeyFingerprint", "tokenExpiresAt"} {
		assert.True(t, preview.Properties.Get(k).IsComputed(), "%s is unknown in a preview", k)
	}

	state := env.inputs(map[string]property.Value{"version": property.New("18.5.2-ce.0"), "configuredAt": property.New("2026-01-01T00:00:00Z"),
		"sshHostKeyFingerprint": property.New("SHA256:x"), "previousVersion": property.New(""), "tokenExpiresAt": property.New("2027-06-30"),
		"bastionHostKeyFingerprint": property.New("SHA256:y")})
	read, err := s.Read(p.ReadRequest{ID: "configured:i", Urn: configuredURN, Properties: state, Inputs: env.inputs(nil)})
	require.NoError(t, err)
	assert.Equal(t, "configured:i", read.ID)
	assert.Equal(t, "2026-01-01T00:00:00Z", read.Properties.Get("configuredAt").AsString())
	require.NoError(t, s.Delete(p.DeleteRequest{ID: "configured:i", Urn: configuredURN, Properties: state}))
}

// TestGitLabConfiguredRecheck: a refresh asked to recheck asks GitLab's
// readiness and the token once, opens no session on the host, and keeps
// the resource (the version installed stays known to the next Check).
func TestGitLabConfiguredRecheck(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	recheck := false
	env.server = newServer(t, Options{Waiter: &Waiter{DialSSH: env.bastion.Dial, Clock: newFakeClock()}, Recheck: func(context.Context) bool { return recheck }})
	check, created, err := checkAndCreate(t, env.server, configuredURN, env.inputs(nil))
	require.NoError(t, err)
	_ = env.host.sessions()
	asked := len(env.api.requests())

	recheck = true
	env.api.setToken("glpat-another")
	read, err := env.server.Read(p.ReadRequest{ID: created.ID, Urn: configuredURN, Properties: created.Properties, Inputs: check.Inputs})
	require.NoError(t, err)
	assert.Equal(t, []string{"/-/readiness", "/api/v4/version"}, env.api.requests()[asked:], "one readiness request, one with the token")
	assert.Empty(t, env.host.sessions(), "a refresh opens no session on the host")
	assert.Equal(t, created.ID, read.ID, "a GitLab that refuses the token keeps the resource, with a warning")
}

// TestHostRunStreamsLogLines: log bytes split anywhere are passed on as
// whole lines, the tail keeps the last 20, and a last line without its
// newline is passed on when the run ends.
func TestHostRunStreamsLogLines(t *testing.T) {
	t.Parallel()
	var got []string
	r := &hostRun{log: func(l string) { got = append(got, l) }}
	r.lines([]byte("one\ntw"))
	assert.Equal(t, []string{"one"}, got)
	r.lines([]byte("o\r\nthree"))
	assert.Equal(t, []string{"one", "two"}, got)
	r.flush()
	assert.Equal(t, []string{"one", "two", "three"}, got)
	assert.EqualValues(t, len("one\ntwo\r\nthree"), r.offset, "the next poll reads from there")
	for i := 0; i < 30; i++ {
		r.lines([]byte("l\n"))
	}
	assert.Len(t, r.tail, logTail)
}

// TestRunTimeoutPerOperation: without a timeout input a create and an
// update that keeps the package version get DefaultConfigureTimeout (45m),
// an update that changes it (whose run backs GitLab up first)
// DefaultUpgradeTimeout (6h); a timeout input wins in every case, also one
// equal to the create's default.
func TestRunTimeoutPerOperation(t *testing.T) {
	t.Parallel()
	base := GitLabConfiguredArgs{InstanceID: "i-1", Package: "gitlab-ce", PackageVersion: "18.5.2-ce.0", RootPassword: "pw"}
	with := func(change func(*GitLabConfiguredArgs)) GitLabConfiguredArgs {
		a := base
		change(&a)
		return a
	}
	upgrade := func(a *GitLabConfiguredArgs) { a.PackageVersion = "18.5.3-ce.0" }
	for name, tc := range map[string]struct {
		olds *GitLabConfiguredArgs
		news GitLabConfiguredArgs
		want string
	}{
		"create":               {nil, base, "45m"},
		"create, timeout set":  {nil, with(func(a *GitLabConfiguredArgs) { a.Timeout = "2h" }), "2h"},
		"upgrade":              {&base, with(upgrade), "6h"},
		"upgrade, timeout set": {&base, with(func(a *GitLabConfiguredArgs) { upgrade(a); a.Timeout = "1h" }), "1h"},
		"upgrade, timeout 45m": {&base, with(func(a *GitLabConfiguredArgs) { upgrade(a); a.Timeout = "45m" }), "45m"},
		"CE to EE":             {&base, with(func(a *GitLabConfiguredArgs) { a.Package, a.PackageVersion = "gitlab-ee", "18.5.2-ee.0" }), "6h"},
		"password":             {&base, with(func(a *GitLabConfiguredArgs) { a.RootPassword = "pw2" }), "45m"},
		"new instance":         {&base, with(func(a *GitLabConfiguredArgs) { a.InstanceID = "i-2" }), "45m"},
	} {
		assert.Equal(t, tc.want, runTimeout(tc.olds, tc.news), name)
	}
	assert.Equal(t, DefaultConfigureTimeout, runTimeout(nil, base))
	assert.Equal(t, DefaultUpgradeTimeout, runTimeout(&base, with(upgrade)))
}

// TestGitLabConfiguredCheckKeepsAnUnsetTimeoutUnset: Check leaves an unset
// timeout out of the inputs the engine records, so that Update tells it from
// an explicit one; a timeout given is kept as given.
func TestGitLabConfiguredCheckKeepsAnUnsetTimeoutUnset(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	unset, err := env.server.Check(p.CheckRequest{Urn: configuredURN, Inputs: env.inputs(nil)})
	require.NoError(t, err)
	require.Empty(t, unset.Failures)
	v, ok := unset.Inputs.GetOk("timeout")
	assert.True(t, !ok || v.AsString() == "", "unset stays unset: %v", v)
	assert.Equal(t, "root", unset.Inputs.Get("sshUser").AsString(), "the other defaults are filled in")

	set, err := env.server.Check(p.CheckRequest{Urn: configuredURN, Inputs: env.inputs(map[string]property.Value{"timeout": property.New("45m")})})
	require.NoError(t, err)
	assert.Equal(t, "45m", set.Inputs.Get("timeout").AsString())
}

// hangingApply is a run that never ends while the provider waits: its
// status stays "running", as an apply's does while its backup runs.
var hangingApply = fakeScript{chunks: []string{"gitlab-kapsule-apply: backup_before_upgrade: start\n"}, status: hostscripts.StatusRunning}

// TestGitLabConfiguredWaitsForAnEarlierApply, through the provider, the
// fake host and the fake clock (the timeouts pass without waiting):
//   - an upgrade whose apply does not finish times out after 6h, not 45m,
//     naming its run, that it goes on on the host, and the command that
//     follows its log;
//   - the next update (a new password: 45m) finds that apply still running:
//     it uploads and starts nothing, and its error names the earlier run and
//     how to follow it;
//   - the update after that waits for the earlier run to end, then runs.
func TestGitLabConfiguredWaitsForAnEarlierApply(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	slow := map[string]property.Value{"pollInterval": property.New("10m")}
	in := func(extra map[string]property.Value) property.Map {
		m := maps.Clone(slow)
		maps.Copy(m, extra)
		return env.inputs(m)
	}
	check, created, err := checkAndCreate(t, env.server, configuredURN, in(nil))
	require.NoError(t, err)
	_ = env.host.sessions()

	update := func(olds p.CheckResponse, state property.Map, extra map[string]property.Value) (p.CheckResponse, p.UpdateResponse, error) {
		t.Helper()
		news, err := env.server.Check(p.CheckRequest{Urn: configuredURN, State: olds.Inputs, Inputs: in(extra)})
		require.NoError(t, err)
		require.Empty(t, news.Failures)
		up, err := env.server.Update(p.UpdateRequest{ID: created.ID, Urn: configuredURN, State: state, Inputs: news.Inputs, OldInputs: olds.Inputs})
		return news, up, err
	}

	env.host.script = hangingApply
	_, _, err = update(check, created.Properties, map[string]property.Value{"packageVersion": property.New("18.5.3-ce.0")})
	require.Error(t, err)
	cmds := env.host.sessions()
	upgradeRun := runIDOf(t, cmds)
	msg := err.Error()
	assert.Contains(t, msg, "was not configured over SSH at 127.0.0.1:", "%s", msg)
	assert.Contains(t, msg, " after 6h0m0s (", "an upgrade's default timeout")
	assert.Contains(t, msg, "gitlab-kapsule-apply (run "+upgradeRun+") goes on on the host, detached")
	assert.Contains(t, msg, "`gitlab-kapsule ssh --exec tail -f /var/log/gitlab-kapsule/apply-"+upgradeRun+".log`")

	// The upgrade did not finish: the state is still the create's.
	_, _, err = update(check, created.Properties, map[string]property.Value{"rootPassword": property.New("another-root-password").WithSecret(true)})
	require.Error(t, err)
	msg = err.Error()
	assert.Contains(t, msg, " after 45m0s (", "an update that keeps the version waits 45m")
	assert.Contains(t, msg, "an earlier gitlab-kapsule-apply (run "+upgradeRun+") still runs there")
	assert.Contains(t, msg, "it goes on without this up, which changed nothing on the host: follow it with `gitlab-kapsule ssh --exec tail -f /var/log/gitlab-kapsule/apply-"+upgradeRun+".log`")
	assert.Contains(t, msg, "(log: gitlab-kapsule-apply: backup_before_upgrade: start)", "the earlier run's last line")
	got := kinds(env.host.sessions())
	assert.NotContains(t, got, "upload", "nothing is uploaded while an earlier apply runs: %q", got)
	assert.NotContains(t, got, "start")
	assert.Greater(t, count(got, "look"), 1, "it looked again until the timeout")

	env.host.script = fakeScript{chunks: []string{"gitlab-kapsule-apply: start: run started\n"}, status: hostscripts.StatusDone}
	env.host.settleAfterLooks = 2
	_, up, err := update(check, created.Properties, map[string]property.Value{"packageVersion": property.New("18.5.3-ce.0")})
	require.NoError(t, err)
	assert.Equal(t, []string{"look", "look", "look", "upload", "start", "poll"}, kinds(env.host.sessions()),
		"waits while the earlier run runs, then starts its own")
	assert.Equal(t, "18.5.3-ce.0", up.Properties.Get("version").AsString())
}

// TestGitLabConfiguredHostThatNeverAnswers: a host whose sshd never
// answers (its port closed) times out after the create's 45m, before
// anything was uploaded or started, and says so.
func TestGitLabConfiguredHostThatNeverAnswers(t *testing.T) {
	t.Parallel()
	env := newConfiguredEnv(t)
	require.NoError(t, env.host.ln.Close())
	_, _, err := checkAndCreate(t, env.server, configuredURN, env.inputs(map[string]property.Value{"pollInterval": property.New("10m")}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), " after 45m0s (")
	assert.Contains(t, err.Error(), "nothing was started there: check that the host is up and answers SSH through the bastion")
	assert.Empty(t, env.host.sessions())
}

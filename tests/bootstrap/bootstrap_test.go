package bootstrap

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/cloudinit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// gitLab is the production input with fake secrets, the password awkward on purpose.
func gitLab(tls bool) cloudinit.GitLab {
	g := cloudinit.GitLab{
		ExternalURL:  "http://10.0.0.10",
		PrivateIP:    "10.0.0.10",
		NetworkCIDR:  "10.0.0.0/24",
		KASPort:      cloudinit.DefaultKASPort,
		KASURL:       "grpc://10.0.0.10:8150",
		Package:      "gitlab-ce",
		Version:      "18.5.1-ce.0",
		RootPassword: `pa'ss "word" $(x) \n`,
		AdminToken:   "glk-0123456789abcdefghijklmnopqrstuvwxyz0123",
	}
	if tls {
		g.ExternalURL, g.KASURL = "https://10.0.0.10", "grpcs://10.0.0.10:8150"
		g.TLS = &cloudinit.TLS{CACert: "ca\ncert\n", Cert: "server\ncert\n", Key: "server\nkey\n"}
	}
	return g
}

// userData is the part of the cloud-config that the host acts on, as
// cloudinit renders it.
type userData = cloudinit.CloudConfig

func render(t *testing.T, g cloudinit.GitLab) userData {
	t.Helper()
	out, err := cloudinit.Render(g)
	require.NoError(t, err)
	body, ok := strings.CutPrefix(out, "#cloud-config\n")
	require.True(t, ok, "cloud-init reads only user-data that starts with #cloud-config")
	var ud userData
	require.NoError(t, yaml.UnmarshalStrict([]byte(body), &ud))
	return ud
}

// host is a sandbox that cloud-init has prepared with ud; its package
// repository offers g's package and version.
func host(t *testing.T, g cloudinit.GitLab, ud userData) (*sandbox, string) {
	t.Helper()
	s := newSandbox(t)
	s.write("/standin/repo", g.Package+" "+g.Version+"\n", 0o644)
	s.writeFiles(ud.WriteFiles)
	return s, s.writeRuncmd(ud.Runcmd)
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

// records parses a stand-in's JSON-lines record, or returns nil if it has none.
func records(t *testing.T, s *sandbox, p string) []map[string]any {
	t.Helper()
	if !s.exists(p) {
		return nil
	}
	var out []map[string]any
	for _, l := range lines(s.read(p)) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		out = append(out, m)
	}
	return out
}

// snapshot is every record the stand-ins have written, by name.
func snapshot(t *testing.T, s *sandbox) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(s.host("/standin/log"))
	require.NoError(t, err)
	for _, e := range entries {
		out[e.Name()] = s.read("/standin/log/" + e.Name())
	}
	return out
}

func TestBootstrapInstallsGitLabAndCreatesTheToken(t *testing.T) {
	t.Parallel()
	for name, tls := range map[string]bool{"tls": true, "plain": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := gitLab(tls)
			ud := render(t, g)
			assert.True(t, ud.PackageUpdate)
			assert.Subset(t, ud.Packages, []string{"curl", "gnupg"}, "cloud-init installs what the script calls before GitLab is there")
			s, runcmd := host(t, g, ud)
			_, hasGit := s.id("/etc/passwd", "git")
			require.False(t, hasGit, "no git user before the package")

			out, err := s.run(runcmd)
			require.NoError(t, err, "the bootstrap failed:\n%s", out)
			assert.Contains(t, out, "gitlab-bootstrap: GitLab "+g.Version+" is installed")

			uid, ok := s.id("/etc/passwd", "git")
			require.True(t, ok, "the package's reconfigure made the git user")
			gid, ok := s.id("/etc/group", "git")
			require.True(t, ok)

			// The package: pinned, from the repository the script added, with the password.
			assert.Equal(t, []string{"update -q ", "install -y -q " + g.Package + "=" + g.Version + " "}, lines(s.read("/standin/log/apt-get.log")),
				"apt-get saw neither the admin token in its environment nor anything else")
			assert.Equal(t, g.RootPassword, s.read("/standin/log/root-password"), "the first reconfigure got GITLAB_ROOT_PASSWORD")
			assert.Contains(t, s.read("/etc/apt/sources.list.d/gitlab.list"), "[signed-by=/usr/share/keyrings/gitlab.gpg] https://packages.gitlab.com/gitlab/"+g.Package+"/ubuntu/")

			// The token: created by gitlab-rails as git, with the value rendered in.
			tokens := records(t, s, "/standin/log/tokens.jsonl")
			require.Len(t, tokens, 1)
			assert.Equal(t, "created", tokens[0]["event"])
			assert.Equal(t, g.AdminToken, tokens[0]["token"])
			assert.Equal(t, "root", tokens[0]["user"])
			assert.Equal(t, []any{"api"}, tokens[0]["scopes"])
			assert.EqualValues(t, 364, tokens[0]["expires_in_days"])
			runner := records(t, s, "/standin/log/runner.jsonl")
			require.Len(t, runner, 1)
			assert.EqualValues(t, uid, runner[0]["uid"], "Omnibus's gitlab-rails runs Rails as git")
			assert.EqualValues(t, gid, runner[0]["gid"])
			assert.Equal(t, []any{float64(gid)}, runner[0]["groups"], "chpst -u git:git leaves git the only group")
			assert.Equal(t, "/opt/gitlab/embedded/service/gitlab-rails", runner[0]["cwd"])
			assert.Equal(t, "/var/opt/gitlab", runner[0]["home"], "from the env dir chpst -e reads")
			assert.Equal(t, []any{"exec", "rails", "runner", cloudinit.TokenScriptRunPath}, runner[0]["argv"], "the token is not on the command line")
			assert.Equal(t, true, runner[0]["admin_token_in_env"])
			assert.Equal(t, false, runner[0]["root_password_in_env"])

			mode, fuid, fgid := s.stat(cloudinit.TokenScriptRunPath)
			assert.Equal(t, []int{0o640, 0, gid}, []int{int(mode), fuid, fgid}, "the runner's copy is root:git 0640")
			mode, fuid, fgid = s.stat(cloudinit.CreateTokenPath)
			assert.Equal(t, []int{0o600, 0, 0}, []int{int(mode), fuid, fgid}, "cloud-init's copy stays root-only")

			assert.False(t, s.exists(cloudinit.SecretsPath), "the secrets are shredded")
			assert.True(t, s.exists("/var/lib/gitlab-bootstrap/done"))

			ctl := lines(s.read("/standin/log/gitlab-ctl.log"))
			if tls {
				mode, fuid, fgid := s.stat(cloudinit.KASKeyPath)
				assert.Equal(t, []int{0o640, 0, gid}, []int{int(mode), fuid, fgid}, "KAS, running as git, can read its key")
				assert.Equal(t, g.TLS.Key, s.read(cloudinit.KASKeyPath))
				assert.Equal(t, []string{"upgrade", "restart gitlab-kas"}, ctl)
			} else {
				assert.False(t, s.exists(cloudinit.KASKeyPath))
				assert.Equal(t, []string{"upgrade"}, ctl, "the postinst's upgrade only")
			}

			// Once done, a second run (cloud-init's runcmd again, or by hand) changes nothing.
			before := snapshot(t, s)
			out, err = s.run(runcmd)
			require.NoError(t, err, "the second run failed:\n%s", out)
			assert.Contains(t, out, "gitlab-bootstrap: already done")
			assert.Equal(t, before, snapshot(t, s), "the second run called nothing")
		})
	}
}

// The negative control: the bootstrap script as it was before issue 17
// (runner on the root-only script) fails in the sandbox as on a real host,
// so the test above would catch the defect coming back.
func TestBootstrapBeforeIssue17FailsOnTheRootOnlyTokenScript(t *testing.T) {
	t.Parallel()
	g := gitLab(true)
	ud := render(t, g)
	old, err := os.ReadFile("testdata/bootstrap-before-issue-17.sh")
	require.NoError(t, err)
	replaced := false
	for i := range ud.WriteFiles {
		if ud.WriteFiles[i].Path == cloudinit.BootstrapPath {
			ud.WriteFiles[i].Content, replaced = string(old), true
		}
	}
	require.True(t, replaced)
	s, runcmd := host(t, g, ud)

	out, err := s.run(runcmd)
	require.Error(t, err, "the old bootstrap must fail:\n%s", out)
	assert.Contains(t, out, "cannot load such file -- "+cloudinit.CreateTokenPath, "Ruby's load as git fails on the 0600 root:root file")
	runner := records(t, s, "/standin/log/runner.jsonl")
	require.Len(t, runner, 1, "it failed in the runner, not before")
	uid, _ := s.id("/etc/passwd", "git")
	assert.EqualValues(t, uid, runner[0]["uid"])
	assert.Nil(t, records(t, s, "/standin/log/tokens.jsonl"), "no token")
	assert.True(t, s.exists(cloudinit.SecretsPath), "set -e stopped it before the shred")
	assert.False(t, s.exists("/var/lib/gitlab-bootstrap/done"))
}

// The stand-in gitlab-rails itself: a script git cannot read fails, one it can
// read runs, each as git, like Omnibus's wrapper.
func TestGitLabRailsStandInReadsTheScriptAsGit(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.write("/standin/repo", "gitlab-ce 18.5.1-ce.0\n", 0o644)
	s.write("/etc/gitlab/gitlab.rb", "external_url 'http://10.0.0.10'\n", 0o600)
	s.write("/etc/apt/sources.list.d/gitlab.list", "deb [signed-by=/usr/share/keyrings/gitlab.gpg] https://packages.gitlab.com/gitlab/gitlab-ce/ubuntu/ bookworm main\n", 0o644)
	s.write("/usr/share/keyrings/gitlab.gpg", "key\n", 0o644)
	out, err := s.run("sh", "-c", "apt-get update -q && GITLAB_ROOT_PASSWORD=pw apt-get install -y -q gitlab-ce=18.5.1-ce.0")
	require.NoError(t, err, out)
	gid, ok := s.id("/etc/group", "git")
	require.True(t, ok)

	s.write("/etc/gitlab-bootstrap/root-only.rb", "puts 'ran'\n", 0o600)
	s.write("/etc/gitlab-bootstrap/for-git.rb", "puts \"ran as #{Process.uid}\"\n", 0o640)
	require.NoError(t, os.Chown(s.host("/etc/gitlab-bootstrap/for-git.rb"), 0, gid))

	out, err = s.run("gitlab-rails", "runner", "/etc/gitlab-bootstrap/root-only.rb")
	require.Error(t, err, out)
	assert.Contains(t, out, "cannot load such file -- /etc/gitlab-bootstrap/root-only.rb")
	assert.NotContains(t, out, "ran")

	out, err = s.run("gitlab-rails", "runner", "/etc/gitlab-bootstrap/for-git.rb")
	require.NoError(t, err, out)
	uid, _ := s.id("/etc/passwd", "git")
	assert.Contains(t, out, "ran as "+strconv.Itoa(uid))

	// Relative to where the wrapper cds, not to the caller's directory.
	out, err = s.run("sh", "-c", "cd /etc/gitlab-bootstrap && gitlab-rails runner for-git.rb")
	require.Error(t, err, out)
	assert.Contains(t, out, "Please specify a valid ruby command")
}

// A failed step keeps the secrets, root-only and nowhere else, for a rerun,
// which then finishes the job and shreds them.
func TestFailedBootstrapKeepsTheSecretsForARerun(t *testing.T) {
	t.Parallel()
	g := gitLab(false)
	s, runcmd := host(t, g, render(t, g))
	s.write("/standin/repo", g.Package+" 18.4.0-ce.0\n", 0o644) // not the pinned version

	out, err := s.run(runcmd)
	require.Error(t, err, out)
	assert.Contains(t, out, "E: Version '"+g.Version+"' for '"+g.Package+"' was not found")
	assert.Contains(t, out, "gitlab-bootstrap: FAILED in step install_gitlab")
	assert.Contains(t, out, cloudinit.SecretsPath+" is kept")
	mode, uid, gid := s.stat(cloudinit.SecretsPath)
	assert.Equal(t, []int{0o600, 0, 0}, []int{int(mode), uid, gid})
	assert.False(t, s.exists("/var/lib/gitlab-bootstrap/done"))
	// Nothing else on the host holds a secret.
	for _, root := range []string{"/etc", "/var", "/opt", "/usr", "/root"} {
		_ = filepath.WalkDir(s.fs+root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || p == s.host(cloudinit.SecretsPath) {
				return err
			}
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.NotContains(t, string(b), g.AdminToken, p)
			assert.NotContains(t, string(b), g.RootPassword, p)
			return nil
		})
	}

	s.write("/standin/repo", g.Package+" "+g.Version+"\n", 0o644)
	out, err = s.run(runcmd)
	require.NoError(t, err, "the rerun failed:\n%s", out)
	tokens := records(t, s, "/standin/log/tokens.jsonl")
	require.Len(t, tokens, 1)
	assert.Equal(t, g.AdminToken, tokens[0]["token"])
	assert.Equal(t, g.RootPassword, s.read("/standin/log/root-password"))
	assert.False(t, s.exists(cloudinit.SecretsPath))
	assert.True(t, s.exists("/var/lib/gitlab-bootstrap/done"))
}

// The sandbox has no way out: loopback is its only network interface.
func TestSandboxHasOnlyLoopback(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	out, err := s.run("cat", "/proc/net/dev")
	require.NoError(t, err, out)
	var ifaces []string
	for _, l := range lines(out)[2:] { // two header lines
		name, _, _ := strings.Cut(strings.TrimSpace(l), ":")
		ifaces = append(ifaces, name)
	}
	assert.Equal(t, []string{"lo"}, ifaces)
}

package hostscripts

import (
	"io/fs"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFilesAreTheScriptsWithTheirModes(t *testing.T) {
	t.Parallel()
	got := map[string]fs.FileMode{}
	for _, f := range Files() {
		got[f.Path] = f.Mode
		require.NotEmpty(t, f.Content, f.Path)
		if strings.HasSuffix(f.Path, ".rb") {
			assert.Equal(t, LibDir, filepath.Dir(f.Path), "gitlab-rails loads the Ruby scripts from LibDir")
			continue
		}
		assert.True(t, strings.HasPrefix(string(f.Content), "#!/bin/bash\n"), f.Path)
		assert.Contains(t, string(f.Content), "\nset -euo pipefail\n", f.Path)
	}
	assert.Equal(t, map[string]fs.FileMode{
		ApplyPath:                         0o700,
		BackupPath:                        0o700,
		RestorePath:                       0o700,
		LibDir + "/set-root-password.rb":  0o644,
		LibDir + "/ensure-admin-token.rb": 0o644,
		LibDir + "/pending-migrations.rb": 0o644,
	}, got)
}

// The scripts name the same paths and names as the constants the provider uses.
func TestScriptsAgreeWithTheConstants(t *testing.T) {
	t.Parallel()
	apply := content(t, ApplyPath)
	for name, want := range map[string]string{
		"RunDir":       "readonly run_dir=" + RunDir + "\n",
		"LogDir":       "readonly log_dir=" + LogDir + "\n",
		"LibDir":       "readonly lib_dir=" + LibDir + "\n",
		"DataMount":    "readonly data_mount=" + DataMount + "\n",
		"TokenName":    "readonly token_name=" + TokenName + "\n",
		"DevicePrefix": "dev=" + DevicePrefix + "$id\n",
		"StatusDone":   `set_status "` + StatusDone + `"`,
		"running":      "set_status " + StatusRunning + "\n",
		"StatusPath":   "status_file=$run_dir/$run_id.status\n",
		"LogPath":      "log_file=$log_dir/apply-$run_id.log\n",
		"BackupPath":   "ExecStart=" + BackupPath + "\n",
	} {
		assert.Contains(t, apply, want, name)
	}
	assert.Equal(t, RunDir+"/run-1.status", StatusPath("run-1"))
	assert.Equal(t, LogDir+"/apply-run-1.log", LogPath("run-1"))
	assert.Equal(t, RunDir+"/payload-run-1.env", PayloadPath("run-1"))
	assert.Equal(t, "setsid -f "+ApplyPath+" "+RunDir+"/payload-run-1.env run-1 </dev/null >/dev/null 2>&1", ApplyCommand("run-1"))
}

func TestValidRunID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "run-1", "0123456789abcdefghijklmnopqrstuvwxyz-abc"} {
		assert.True(t, ValidRunID(ok), ok)
	}
	for _, bad := range []string{"", "Run", "a b", "a/b", "a;b", strings.Repeat("a", 41), "a\n"} {
		assert.False(t, ValidRunID(bad), bad)
	}
}

// Sourced by bash, the payload gives back every value exactly, quotes,
// dollars and newlines included, and the files as base64.
func TestPayloadRoundTripsThroughBash(t *testing.T) {
	t.Parallel()
	s := Settings{
		Package: "gitlab-ce", Version: "18.5.2-ce.0", DataVolumeID: "fr-par-1/11111111-2222-4333-8444-555555555555",
		GitLabRB:     "external_url 'https://10.0.0.10'\n# it's $HOME\n",
		RootPassword: `p'a"s$s` + "`id`\\\nx", AdminToken: "glpat-abc", AdminTokenExpiresAt: "2026-11-30",
		TLSCert: "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n", TLSKey: "k", CACert: "",
		BackupBucket: "b", BackupRegion: "fr-par", BackupEndpoint: "s3.fr-par.scw.cloud", BackupAccessKey: "SCW1",
		BackupSecretKey: "s'e$(c)", BackupSchedule: "*-*-* 03:00:00",
	}
	script := `source /dev/stdin
for v in GLK_PACKAGE GLK_VERSION GLK_DATA_VOLUME_ID GLK_ROOT_PASSWORD GLK_ADMIN_TOKEN GLK_ADMIN_TOKEN_EXPIRES_AT \
	GLK_BACKUP_BUCKET GLK_BACKUP_REGION GLK_BACKUP_ENDPOINT GLK_BACKUP_ACCESS_KEY GLK_BACKUP_SECRET_KEY GLK_BACKUP_SCHEDULE; do
	printf '%s\0' "${!v}"
done
for v in GLK_GITLAB_RB_B64 GLK_TLS_CERT_B64 GLK_TLS_KEY_B64 GLK_CA_CERT_B64; do
	printf '%s' "${!v}" | base64 -d
	printf '\0'
done`
	cmd := exec.Command("bash", "-c", script)
	cmd.Stdin = strings.NewReader(string(Payload(s)))
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, []string{
		s.Package, s.Version, s.DataVolumeID, s.RootPassword, s.AdminToken, s.AdminTokenExpiresAt,
		s.BackupBucket, s.BackupRegion, s.BackupEndpoint, s.BackupAccessKey, s.BackupSecretKey, s.BackupSchedule,
		s.GitLabRB, s.TLSCert, s.TLSKey, s.CACert, "",
	}, strings.Split(string(out), "\x00"))
	assert.NotContains(t, string(Payload(s)), "\n\n", "one line per key")
	assert.Len(t, strings.Split(strings.TrimSuffix(string(Payload(s)), "\n"), "\n"), 16+1, "16 keys, the password's newline kept inside its quotes")
}

func content(t *testing.T, path string) string {
	t.Helper()
	for _, f := range Files() {
		if f.Path == path {
			return string(f.Content)
		}
	}
	t.Fatalf("no file %s", path)
	return ""
}

// Secrets reach commands through their environment only: every line of the
// shell scripts naming a secret variable is one of the forms below, never an
// argument (ps shows those; the stand-ins' snapshots cannot see a process
// that, like env VAR=x cmd, replaced itself before they ran).
func TestSecretsAreNeverArguments(t *testing.T) {
	t.Parallel()
	secret := regexp.MustCompile(`GLK_(ROOT_PASSWORD|ADMIN_TOKEN|BACKUP_SECRET_KEY|TLS_KEY_B64)\b`)
	safe := []*regexp.Regexp{
		regexp.MustCompile(`^\s*#`), // a comment
		regexp.MustCompile(`^\s*: "\$\{GLK_ROOT_PASSWORD:\?\} \$\{GLK_ADMIN_TOKEN:\?\}`),                // required
		regexp.MustCompile(`^\s*(GLK_\w+=\$\{GLK_\w+:-\} ?)+$`),                                         // defaults
		regexp.MustCompile(`^\s*local user="\$\{GLK_BACKUP_ACCESS_KEY\}:\$\{GLK_BACKUP_SECRET_KEY\}"$`), // for the 0600 curl config
		regexp.MustCompile(`^\s*b64 "\$GLK_TLS_KEY_B64" \| write_file 0600 `),                           // a builtin into a 0600 file
		regexp.MustCompile(`^\s*(DEBIAN_FRONTEND=noninteractive )?(GITLAB_ROOT_PASSWORD|GLK_ROOT_PASSWORD|GLK_ADMIN_TOKEN)="\$GLK_\w+"( GLK_ADMIN_TOKEN_EXPIRES_AT="\$GLK_ADMIN_TOKEN_EXPIRES_AT")? (\\|run [a-z-]+ )`), // an environment prefix
	}
	n := 0
	for _, f := range Files() {
		if strings.HasSuffix(f.Path, ".rb") {
			continue
		}
		for i, line := range strings.Split(string(f.Content), "\n") {
			if !secret.MatchString(line) {
				continue
			}
			n++
			ok := false
			for _, re := range safe {
				ok = ok || re.MatchString(line)
			}
			assert.True(t, ok, "%s:%d passes a secret some other way: %s", f.Path, i+1, line)
		}
	}
	assert.Greater(t, n, 5, "the check saw the secrets")
}

package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/cloudinit"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// userData renders the production user-data.
func userData(t *testing.T) string {
	t.Helper()
	out, err := cloudinit.UserData()
	require.NoError(t, err)
	return out
}

// gitlabRB renders gitlab.rb with TLS and awkward but legal values.
func gitlabRB(t *testing.T) string {
	t.Helper()
	out, err := cloudinit.GitLabRB(cloudinit.GitLab{
		ExternalURL: "https://10.0.0.10/it's",
		PrivateIP:   "10.0.0.10",
		NetworkCIDR: "10.0.0.0/24",
		KASPort:     cloudinit.DefaultKASPort,
		KASURL:      `grpcs://10.0.0.10:8150/\`,
		TLS:         true,
	})
	require.NoError(t, err)
	return out
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// schema runs `cloud-init schema` and returns its combined output and whether it passed.
func schema(t *testing.T, content string) (string, bool) {
	t.Helper()
	bin := testenv.Tool(t, "cloud-init", "apt-get install cloud-init")
	out, err := exec.Command(bin, "schema", "--config-file", writeTemp(t, "user-data", content)).CombinedOutput()
	return string(out), err == nil
}

func TestUserDataPassesCloudInitSchema(t *testing.T) {
	t.Parallel()
	out, ok := schema(t, userData(t))
	assert.True(t, ok, "cloud-init schema rejected the user-data:\n%s", out)
	assert.Contains(t, out, "Valid cloud-config")
}

// The validator itself must be able to say no, or the test above proves nothing.
func TestCloudInitSchemaRejectsABrokenConfig(t *testing.T) {
	t.Parallel()
	out, ok := schema(t, "#cloud-config\nwrite_files:\n  - path: 42\n    permissions: true\npackage_update: maybe\n")
	assert.False(t, ok, "cloud-init schema accepted a broken config:\n%s", out)
}

func TestShellcheckCatchesAnUnquotedVariable(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "shellcheck", "apt-get install shellcheck")
	err := exec.Command(bin, "--shell=bash", writeTemp(t, "bad.sh", "#!/bin/bash\nrm -rf $1/tmp\n")).Run()
	assert.Error(t, err, "shellcheck must flag an unquoted expansion, or the tests above prove nothing")
}

func TestGitLabRBParses(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "ruby", "apt-get install ruby")
	out, err := exec.Command(bin, "-c", writeTemp(t, "gitlab.rb", gitlabRB(t))).CombinedOutput()
	assert.NoError(t, err, "gitlab.rb does not parse as Ruby:\n%s", out)
	err = exec.Command(bin, "-c", writeTemp(t, "bad.rb", "external_url 'http://x\n")).Run()
	assert.Error(t, err, "ruby -c must reject an unterminated string")
}

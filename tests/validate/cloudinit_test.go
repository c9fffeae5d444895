package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/cloudinit"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// userData renders the production template with awkward but legal values.
func userData(t *testing.T) string {
	t.Helper()
	out, err := cloudinit.Render(cloudinit.GitLab{
		ExternalURL:  "https://10.0.0.10",
		PrivateIP:    "10.0.0.10",
		NetworkCIDR:  "10.0.0.0/24",
		KASPort:      cloudinit.DefaultKASPort,
		KASURL:       "grpcs://10.0.0.10:8150",
		Package:      "gitlab-ce",
		Version:      "18.5.1-ce.0",
		RootPassword: `pa'ss "word" $(x) \n`,
		AdminToken:   "glk-0123456789abcdefghijklmnopqrstuvwxyz0123",
		TLS:          &cloudinit.TLS{CACert: "ca\ncert\n", Cert: "server\ncert\n", Key: "server\nkey\n"},
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

// writtenFile returns the content of a file the user-data writes.
func writtenFile(t *testing.T, path string) string {
	t.Helper()
	var cfg struct {
		WriteFiles []struct{ Path, Content string } `json:"write_files"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(strings.TrimPrefix(userData(t), "#cloud-config\n")), &cfg))
	for _, f := range cfg.WriteFiles {
		if f.Path == path {
			return f.Content
		}
	}
	t.Fatalf("user-data writes no %s", path)
	return ""
}

func TestBootstrapScriptPassesShellcheck(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "shellcheck", "apt-get install shellcheck")
	script := writtenFile(t, cloudinit.BootstrapPath)
	assert.Equal(t, cloudinit.BootstrapScript(), script, "the host runs the embedded script unchanged")
	out, err := exec.Command(bin, "--shell=bash", "--severity=style", writeTemp(t, "bootstrap.sh", script)).CombinedOutput()
	assert.NoError(t, err, "shellcheck:\n%s", out)
}

func TestSecretsFileIsValidShell(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "shellcheck", "apt-get install shellcheck")
	env := writtenFile(t, cloudinit.SecretsPath)
	// SC2034: the variables are used by the script that sources the file.
	// SC2016: single quotes that stop expansion are the point here.
	out, err := exec.Command(bin, "--shell=bash", "--exclude=SC2034,SC2016", writeTemp(t, "secrets.env", env)).CombinedOutput()
	assert.NoError(t, err, "shellcheck:\n%s", out)

	// Sourcing it gives back the exact password, quotes and all.
	got, err := exec.Command("bash", "-c", `source "$1" && printf '%s' "$GITLAB_ROOT_PASSWORD"`, "_", writeTemp(t, "s.env", env)).Output()
	require.NoError(t, err)
	assert.Equal(t, `pa'ss "word" $(x) \n`, string(got))
}

func TestShellcheckCatchesAnUnquotedVariable(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "shellcheck", "apt-get install shellcheck")
	err := exec.Command(bin, "--shell=bash", writeTemp(t, "bad.sh", "#!/bin/bash\nrm -rf $1/tmp\n")).Run()
	assert.Error(t, err, "shellcheck must flag an unquoted expansion, or the tests above prove nothing")
}

func TestRubyFilesParse(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "ruby", "apt-get install ruby")
	for name, content := range map[string]string{
		"gitlab.rb":             writtenFile(t, cloudinit.GitLabRBPath),
		"create-admin-token.rb": writtenFile(t, cloudinit.CreateTokenPath),
	} {
		out, err := exec.Command(bin, "-c", writeTemp(t, name, content)).CombinedOutput()
		assert.NoError(t, err, "%s does not parse as Ruby:\n%s", name, out)
	}
	err := exec.Command(bin, "-c", writeTemp(t, "bad.rb", "external_url 'http://x\n")).Run()
	assert.Error(t, err, "ruby -c must reject an unterminated string")
}

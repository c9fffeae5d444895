package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// runUser runs the built command as a user would, with the Pulumi CLI that
// tools/build made on PATH, a throwaway PULUMI_HOME and a passphrase.
func runUser(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	pulumiDir := testenv.Env(t, harness.PulumiDirEnv, `run eval "$(tools/build pulumi)"`)
	cmd := exec.Command(harness.GitLabKapsuleCommand(t), args...)
	cmd.Dir = harness.RepoRoot(t)
	cmd.Env = append(os.Environ(),
		"PATH="+pulumiDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_HOME="+t.TempDir(),
		"HOME="+t.TempDir(),
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_CONFIG_PASSPHRASE=test",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

// TestCLIUnknownStack: commands that need a deployed stack say in one line
// that it has no outputs yet, name up, and exit 2, through the real Pulumi
// CLI.
func TestCLIUnknownStack(t *testing.T) {
	backend := "file://" + t.TempDir()
	for _, cmd := range []string{"outputs", "ssh", "tunnel", "verify"} {
		code, _, errOut := runUser(t, "--backend", backend, "--stack", "nosuch", cmd)
		assert.Equal(t, 2, code, cmd)
		assert.Contains(t, errOut, "stack \"nosuch\" has no outputs yet: run `gitlab-kapsule --stack nosuch --backend "+backend+" up` first", cmd)
		assert.Contains(t, errOut, `the backend has no stack "nosuch"`, cmd)
		assert.Equal(t, 1, strings.Count(errOut, "\n"), "%s: one line: %s", cmd, errOut)
		assert.NotContains(t, errOut, "stdout:", "%s: no raw CLI dump", cmd)
	}
}

// TestCLIBadBackend: a bad --backend is named before anything runs.
func TestCLIBadBackend(t *testing.T) {
	code, _, errOut := runUser(t, "--backend", "ftp://host/state", "outputs")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown scheme "ftp"`)
}

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// projectDir is the repository root, which holds Pulumi.yaml and Pulumi.dev.yaml.
func projectDir(t *testing.T) string {
	t.Helper()
	dir := harness.RepoRoot(t)
	require.FileExists(t, filepath.Join(dir, "Pulumi.dev.yaml"))
	return dir
}

func clearCredentials(t *testing.T) {
	for _, v := range append(credentialVars, "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE") {
		t.Setenv(v, "")
	}
}

func runCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// helpOf is what `gitlab-kapsule [COMMAND] -h` prints, which must exit 0.
func helpOf(t *testing.T, command ...string) string {
	t.Helper()
	code, _, errOut := runCLI(append(command, "-h")...)
	assert.Equal(t, 0, code, "%v -h", command)
	return errOut
}

func TestUpWithoutCredentialsNamesThemAndShowsTheOfflinePlan(t *testing.T) {
	clearCredentials(t)
	code, out, errOut := runCLI("--dir", projectDir(t), "up")
	assert.Equal(t, exitMissing, code)
	assert.Contains(t, out, "SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_PROJECT_ID, PULUMI_CONFIG_PASSPHRASE")
	assert.Contains(t, out, "OFFLINE PLAN")
	assert.Regexp(t, `\d+ resources would be created`, out)
	assert.NotContains(t, out, "scaleway:kubernetes/acl:Acl", "Pulumi.dev.yaml sets no kapsule:apiAllowedCidrs: a list would lock out a user outside it")
	assert.Contains(t, errOut, "nothing was deployed")
}

func TestOnlyTheMissingVariablesAreNamed(t *testing.T) {
	clearCredentials(t)
	t.Setenv("SCW_ACCESS_KEY", "SCWXXXXXXXXXXXXXXXXX")
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "test")
	code, out, _ := runCLI("--dir", projectDir(t), "preview")
	assert.Equal(t, exitMissing, code)
	assert.Contains(t, out, "not set: SCW_SECRET_KEY, SCW_DEFAULT_PROJECT_ID\n")
}

func TestMissingPulumiCLIIsExplained(t *testing.T) {
	clearCredentials(t)
	for _, v := range credentialVars {
		t.Setenv(v, "set")
	}
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "test")
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	// No download is tried here: offline it would fail, online it would
	// fetch the CLI. FindPulumi's install path is auto.InstallPulumiCommand.
	code, _, errOut := runCLI("--dir", projectDir(t), "up", "--install-pulumi=false")
	assert.Equal(t, exitMissing, code)
	assert.Contains(t, errOut, "v3.274.1")
	assert.Contains(t, errOut, "tools/build pulumi")
	assert.Contains(t, errOut, "`pulumi` is not on PATH: install v3.274.1")
}

func TestPlanNeedsNoCredentials(t *testing.T) {
	clearCredentials(t)
	code, out, _ := runCLI("--dir", projectDir(t), "plan")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "gitlabwait:index:GitLabConfigured")
}

func TestPlanReportsBadConfiguration(t *testing.T) {
	clearCredentials(t)
	dir := projectWith(t, map[string]string{"Pulumi.bad.yaml": "config:\n  network:cidr: 10.0.0.0/30\n  gitlabHost:rootPassword:\n    secure: AAABAJ\n"})
	code, _, errOut := runCLI("--dir", dir, "--stack", "bad", "plan")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "network:cidr \"10.0.0.0/30\" is too small")
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"launch"}, {"--no-such-flag", "up"}, {"up", "extra"}, {"up", "--no-such-flag"}, {"tunnel", "--port", "x"}} {
		code, _, errOut := runCLI(args...)
		assert.Equal(t, exitUsage, code, "args %v", args)
		assert.Contains(t, errOut, "usage: gitlab-kapsule")
	}
}

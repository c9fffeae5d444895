package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plainPulumiBlock is the README's shell block for plain Pulumi: the lines a
// newcomer pastes.
func plainPulumiBlock(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "README.md"))
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)With plain Pulumi instead.*?```sh\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "README has a shell block for plain Pulumi")
	return strings.Split(strings.TrimSpace(string(m[1])), "\n")
}

// TestPlainPulumiLoginWorksOnAFreshHomeAndMeetsTheCommand runs the README's
// plain-Pulumi lines up to `pulumi stack select`, as written, with the real
// CLI, on a fresh home: they must succeed (the CLI creates no folder for a
// file backend), and log in to the very backend the command uses by default,
// so both see the same stacks. `file://~` would not do: the CLI reads ~ as
// the account's home from the user database, not $HOME.
func TestPlainPulumiLoginWorksOnAFreshHomeAndMeetsTheCommand(t *testing.T) {
	cli := testenv.File(t, harness.PulumiDirEnv, "pulumi", `run eval "$(tools/build pulumi)"`)
	var script []string
	for _, line := range plainPulumiBlock(t) {
		if strings.HasPrefix(line, "go build") {
			continue // building the provider is not what is tested here
		}
		script = append(script, line)
		if strings.Contains(line, "pulumi stack select") {
			break
		}
	}
	require.NotEmpty(t, script)
	assert.NotContains(t, strings.Join(script, "\n"), "file://~", "the CLI resolves ~ differently from the command")

	home, project := t.TempDir(), t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi.dev.yaml"} {
		b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(project, f), b, 0o644))
	}
	sh := exec.CommandContext(t.Context(), "bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	sh.Dir = project
	sh.Env = []string{
		"HOME=" + home, "PATH=" + filepath.Dir(cli) + ":/usr/bin:/bin",
		"PULUMI_CONFIG_PASSPHRASE=" + harness.Passphrase, "PULUMI_SKIP_UPDATE_CHECK=true",
	}
	out, err := sh.CombinedOutput()
	require.NoError(t, err, "the README's lines fail on a fresh home:\n%s\n%s", strings.Join(script, "\n"), out)

	t.Setenv("HOME", home)
	backend, err := deploy.DefaultBackend()
	require.NoError(t, err)
	assert.Contains(t, string(out), backend, "plain Pulumi logs in to the command's default backend")
	dir, err := deploy.FileBackendDir(backend)
	require.NoError(t, err)
	stacks, _ := filepath.Glob(filepath.Join(dir, ".pulumi", "stacks", "gitlab-kapsule", "dev.json*"))
	assert.NotEmpty(t, stacks, "the stack is in the command's state folder %s", dir)
}

// TestFirstRunOnlyAppendsTheSalt: the tracked example stack is written as
// Pulumi stores settings, so creating the stack (what the first preview or
// up does, through the CLI) leaves it as it is but for the passphrase's salt,
// and a newcomer's checkout is not dirty with reformatted values.
func TestFirstRunOnlyAppendsTheSalt(t *testing.T) {
	eng := harness.NewEngine(t)
	project := t.TempDir()
	tracked, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "Pulumi.dev.yaml"))
	require.NoError(t, err)
	for _, f := range []string{"Pulumi.yaml", "Pulumi.dev.yaml"} {
		b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(project, f), b, 0o644))
	}
	_, stderr, code, err := eng.Command.Run(t.Context(), project, nil, nil, nil, environ(eng), "stack", "select", "dev", "--create")
	require.NoError(t, err, stderr)
	require.Zero(t, code, stderr)

	after, err := os.ReadFile(filepath.Join(project, "Pulumi.dev.yaml"))
	require.NoError(t, err)
	added, ok := strings.CutPrefix(string(after), strings.TrimRight(string(tracked), "\n")+"\n")
	require.True(t, ok, "creating the stack rewrote the example; it must only append. After:\n%s", after)
	assert.Regexp(t, `^encryptionsalt: v1:\S+\n?$`, added)
}

// environ is the engine's environment as the CLI takes it.
func environ(eng *harness.Engine) []string {
	env := os.Environ()
	for k, v := range eng.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// TestExitCodesNeedTheBuiltBinary: the README's exit codes are the built
// command's; through `go run` a usage error (64) comes out as 1, as the
// README warns, and the built binary, which the README and .gitlab-ci.yml
// use for scripts, gives 64.
func TestExitCodesNeedTheBuiltBinary(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "README.md"))
	require.NoError(t, err)
	assert.Contains(t, string(readme), "go build -o gitlab-kapsule ./cmd/gitlab-kapsule", "the README says how to get the real codes")
	ci, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), ".gitlab-ci.yml"))
	require.NoError(t, err)
	assert.Contains(t, string(ci), "go build -o gitlab-kapsule ./cmd/gitlab-kapsule", "CI runs the built binary")

	built := exec.CommandContext(t.Context(), harness.GitLabKapsuleCommand(t), "no-such-command")
	assert.Equal(t, 64, exitCode(t, built), "the built command")

	goTool, err := exec.LookPath("go")
	require.NoError(t, err)
	run := exec.CommandContext(t.Context(), goTool, "run", "./cmd/gitlab-kapsule", "no-such-command")
	run.Dir = harness.RepoRoot(t)
	var out strings.Builder
	run.Stderr = &out
	assert.Equal(t, 1, exitCode(t, run), "go run")
	assert.Contains(t, out.String(), "exit status 64", "go run names the command's own code")
}

// exitCode runs cmd and returns its exit code.
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// fakePulumi puts on PATH a `pulumi` that answers what the command asks
// before anything is deployed: its version, `stack select` (the stacks in
// stacks exist, others do not), `stack output` and `config` (none). An
// operation fails after logging the first folder of its PATH and what the
// readiness provider there links to. It returns the file where it logs
// each command line.
func fakePulumi(t *testing.T, stacks ...string) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	script := `#!/bin/sh
echo "$*" >> '` + log + `'
[ "$1" = --non-interactive ] && shift
case "$1 $2" in
"version "*) echo v` + deploy.PulumiVersion + ` ;;
"stack select")
	for s in ` + strings.Join(stacks, " ") + `; do [ "$4" = "$s" ] && exit 0; done
	echo "error: no stack named '$4' found" >&2; exit 255 ;;
"stack output" | "config "*) echo '{}' ;;
"up "* | "preview "* | "refresh "* | "destroy "*)
	plugins=${PATH%%:*}
	echo "plugins $plugins -> $(readlink "$plugins/pulumi-resource-gitlabwait")" >> '` + log + `'
	echo "error: the fake pulumi deploys nothing" >&2; exit 1 ;;
*) echo "error: the fake pulumi does not know: $*" >&2; exit 1 ;;
esac
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pulumi"), []byte(script), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("HOME", t.TempDir())
	return log
}

// projectWith is a project folder holding Pulumi.yaml and the given files.
func projectWith(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: gitlab-kapsule\nruntime: go\n"), 0o600))
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	return dir
}

// TestDirNamingNothingIsAUsageError: a --dir that does not exist, is a
// file or holds no Pulumi.yaml is named before anything runs, for every
// command.
func TestDirNamingNothingIsAUsageError(t *testing.T) {
	clearCredentials(t)
	empty := t.TempDir()
	file := filepath.Join(empty, "Pulumi.yaml.bak")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for dir, want := range map[string]string{
		"/no/such/dir": "--dir /no/such/dir does not exist",
		empty:          "--dir " + empty + " holds no Pulumi.yaml",
		file:           "--dir " + file + " is a file",
	} {
		for _, cmd := range []string{"plan", "up", "preview", "destroy", "outputs", "ssh", "tunnel", "verify"} {
			code, out, errOut := runCLI("--dir", dir, cmd)
			assert.Equal(t, exitUsage, code, "%s %s", cmd, dir)
			assert.Contains(t, errOut, want, "%s %s", cmd, dir)
			assert.NotContains(t, out, "OFFLINE PLAN", "%s %s: the defaults are not planned", cmd, dir)
		}
	}
	code, _, errOut := runCLI("--stack", "a/b/c/d", "plan")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `--stack "a/b/c/d" is not a stack name`)
}

// TestStackWithoutStackFile: the offline plan, and up or preview of a stack
// the backend does not have, refuse a --stack without its
// Pulumi.<stack>.yaml, naming the files there are; nothing is created.
func TestStackWithoutStackFile(t *testing.T) {
	clearCredentials(t)
	dir := projectWith(t, map[string]string{"Pulumi.dev.yaml": "config: {}\n", "Pulumi.qa.yaml": "config: {}\n"})
	want := "no Pulumi.prod.yaml in " + dir + " (found: Pulumi.dev.yaml, Pulumi.qa.yaml): create it, e.g. `cp Pulumi.dev.yaml Pulumi.prod.yaml`"

	code, out, errOut := runCLI("--dir", dir, "--stack", "prod", "plan")
	assert.Equal(t, exitMissing, code)
	assert.Contains(t, errOut, want)
	assert.Contains(t, errOut, "or pass --stack dev or --stack qa\n")
	assert.NotContains(t, out, "OFFLINE PLAN")

	// Without credentials up names them, then the missing file.
	code, out, errOut = runCLI("--dir", dir, "--stack", "prod", "up")
	assert.Equal(t, exitMissing, code)
	assert.Contains(t, out, "not set: SCW_ACCESS_KEY")
	assert.NotContains(t, out, "OFFLINE PLAN")
	assert.Contains(t, errOut, want)
	assert.NotContains(t, errOut, "offline plan:")

	// With them, the backend is asked whether the stack exists; it does
	// not, so nothing is created (no stack init, no provider build).
	for _, v := range credentialVars {
		t.Setenv(v, "set")
	}
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "test")
	backend := "file://" + t.TempDir()
	for _, op := range []string{"up", "preview"} {
		calls := fakePulumi(t, "dev")
		code, _, errOut = runCLI("--dir", dir, "--backend", backend, "--stack", "prod", op)
		assert.Equal(t, exitMissing, code, op)
		assert.Contains(t, errOut, want, op)
		log, err := os.ReadFile(calls)
		require.NoError(t, err)
		assert.Contains(t, string(log), "stack select --stack prod", op)
		assert.NotContains(t, string(log), "init", "%s: no stack is created", op)
		assert.NoFileExists(t, filepath.Join(dir, "bin", "pulumi-resource-gitlabwait"), op)
	}

	// No stack file at all.
	bare := projectWith(t, nil)
	code, _, errOut = runCLI("--dir", bare, "--stack", "prod", "plan")
	assert.Equal(t, exitMissing, code)
	assert.Contains(t, errOut, "no Pulumi.prod.yaml in "+bare+", and no other stack file there")
}

// TestExistingStackWithoutStackFileIsANotice: a stack the backend has goes
// on without its file, with one line saying so.
func TestExistingStackWithoutStackFileIsANotice(t *testing.T) {
	dir := projectWith(t, map[string]string{"Pulumi.dev.yaml": "config: {}\n"})
	fakePulumi(t, "prod")
	cli, err := deploy.FindPulumi(t.Context(), false)
	require.NoError(t, err)
	o := &options{stack: "prod", dir: dir, backend: "file://" + t.TempDir()}
	opts := deploy.Options{StackName: o.stack, Backend: o.backend, ProjectDir: dir, Command: cli}
	var stderr bytes.Buffer
	require.NoError(t, checkNewStack(t.Context(), o, opts, &stderr))
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"))
	assert.Contains(t, stderr.String(), `notice: no Pulumi.prod.yaml in `+dir+`: stack "prod" exists on the backend`)

	// With its file, the backend is not asked.
	o.stack, opts.StackName = "dev", "dev"
	stderr.Reset()
	require.NoError(t, checkNewStack(t.Context(), o, opts, &stderr))
	assert.Empty(t, stderr.String())
}

// TestCommandsBeforeAnyUpNameUp: outputs, ssh, tunnel, verify, backup and
// restore on a stack that was never brought up (not on the backend, or
// without outputs) say so in one line, naming up, and exit 2.
func TestCommandsBeforeAnyUpNameUp(t *testing.T) {
	clearCredentials(t)
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "test")
	dir := projectWith(t, map[string]string{"Pulumi.dev.yaml": "config: {}\n"})
	backend := "file://" + t.TempDir()
	fakePulumi(t, "dev")
	for _, cmd := range [][]string{{"outputs"}, {"ssh"}, {"tunnel"}, {"verify"}, {"backup"}, {"restore"}, {"restore", testBackupID}} {
		for stack, want := range map[string]string{
			"dev":  "gitlab-kapsule: stack \"dev\" has no outputs yet: run `gitlab-kapsule --dir " + dir + " --backend " + backend + " up` first\n",
			"prod": "gitlab-kapsule: stack \"prod\" has no outputs yet: run `gitlab-kapsule --dir " + dir + " --stack prod --backend " + backend + " up` first (the backend has no stack \"prod\": if it was deployed, check --stack and --backend)\n",
		} {
			code, _, errOut := runCLI(append([]string{"--dir", dir, "--backend", backend, "--stack", stack}, cmd...)...)
			assert.Equal(t, exitMissing, code, "%v %s", cmd, stack)
			assert.Equal(t, want, errOut, "%v %s: one line", cmd, stack)
		}
	}
}

// TestPlanPrintsTheWarningsUpPrints: the program's ctx.Log warnings, which
// the mock engine drops, are in the offline plan.
func TestPlanPrintsTheWarningsUpPrints(t *testing.T) {
	clearCredentials(t)
	dir := projectWith(t, map[string]string{"Pulumi.w.yaml": "config:\n  gitlabHost:tls: false\n  gitops:enabled: false\n"})
	code, out, errOut := runCLI("--dir", dir, "--stack", "w", "plan")
	require.Equal(t, 0, code, errOut)
	_, warnings, ok := strings.Cut(out, "\nWarnings (up prints these too):\n")
	require.True(t, ok, out)
	for _, w := range []string{
		"  warning: network:allowedIpRanges admits the whole internet",
		"  warning: kapsule:apiAllowedCidrs is empty",
		"  warning: gitlabHost:tls is false",
	} {
		assert.Contains(t, warnings, w)
	}
}

// TestOperationsServeTheProviderFromTheCommand: with no Go toolchain on
// PATH, every operation builds nothing: the engine gets a plugin folder
// first on its PATH whose pulumi-resource-gitlabwait links to the command's
// own binary, and the folder goes with the run; --target, --parallel and
// --message reach the CLI.
func TestOperationsServeTheProviderFromTheCommand(t *testing.T) {
	clearCredentials(t)
	for _, v := range credentialVars {
		t.Setenv(v, "set")
	}
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "test")
	t.Setenv("PULUMI_IGNORE_AMBIENT_PLUGINS", "")
	t.Setenv("PATH", harness.PathWithout(t, "go"))
	dir := projectWith(t, map[string]string{"Pulumi.dev.yaml": "config: {}\n"})
	self, err := os.Executable()
	require.NoError(t, err)
	const urn = "urn:pulumi:dev::gitlab-kapsule::gitlab-kapsule:index:Network::glk-dev"
	linked := regexp.MustCompile(`plugins (\S+) -> (\S+)`)
	for _, op := range []string{"up", "preview", "refresh", "destroy"} {
		calls := fakePulumi(t, "dev")
		code, _, errOut := runCLI("--dir", dir, "--backend", "file://"+t.TempDir(), op,
			"--target", urn, "--target", urn+"-b", "--parallel", "4", "--message", "grow the pool")
		assert.Equal(t, exitFailed, code, op)
		assert.Contains(t, errOut, "the fake pulumi deploys nothing", op)
		log, err := os.ReadFile(calls)
		require.NoError(t, err)
		m := linked.FindStringSubmatch(string(log))
		require.NotNil(t, m, "%s: the engine's PATH starts with the plugin folder:\n%s", op, log)
		assert.Equal(t, self, m[2], "%s: the readiness provider is this binary", op)
		assert.NoDirExists(t, m[1], "%s: the plugin folder goes with the run", op)
		for _, arg := range []string{"--target=" + urn + " ", "--target=" + urn + "-b ", "--parallel=4", `--message="grow the pool"`} {
			assert.Contains(t, string(log), arg, op)
		}
		assert.NoDirExists(t, filepath.Join(dir, "bin"), "%s: nothing is built in the project", op)
	}
}

// TestEngineFlagsAreChecked: a --target that is no URN and a --parallel
// that is no positive number are usage errors, and -h shows the flags.
func TestEngineFlagsAreChecked(t *testing.T) {
	for args, want := range map[string]string{
		"up --target glk-dev-gitlab": `"glk-dev-gitlab" is not a resource URN: give urn:pulumi:STACK::PROJECT::TYPE::NAME`,
		"destroy --parallel 0":       "give a whole number, at least 1",
		"refresh --parallel many":    "give a whole number, at least 1",
	} {
		code, _, errOut := runCLI(strings.Fields(args)...)
		assert.Equal(t, exitUsage, code, args)
		assert.Contains(t, errOut, want, args)
	}
	errOut := helpOf(t, "preview")
	for _, flag := range []string{"-target URN", "-parallel N", "-message TEXT", "repeatable"} {
		assert.Contains(t, errOut, flag)
	}
}

package engine

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/offline"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// plainStack is the example stack a newcomer previews: Pulumi.dev.yaml.
const plainStack = "dev"

// TestPlainPulumiPreviewPlansWhatTheMockRunDoes walks the README's plain
// Pulumi path: the real `pulumi preview` CLI (not the Automation API) in a
// copy of this folder, which the Go language host builds and runs as
// main.go, on a file:// backend. The readiness provider is a build of
// ./provider/cmd/pulumi-resource-gitlabwait on PATH, as the README says;
// Kubernetes is the real provider plugin; Scaleway, random, tls and GitLab
// are the bridged stand-in (tests/standin/bridged), which previews as a
// bridged provider does. The preview must plan exactly the resources the
// program registers under the mock engine for the same stack file
// (internal/mockcloud), and leave the checkout's files as they were.
func TestPlainPulumiPreviewPlansWhatTheMockRunDoes(t *testing.T) {
	cli := harness.PlainCLI(t)
	goTool := testenv.Tool(t, "go", "install Go")
	eng := harness.NewEngine(t)
	eng.InstallKubernetesPlugin(t)
	eng.InstallBridgedStandIns(t, "scaleway", "random", "tls", "gitlab")
	providerDir := harness.GitLabWaitPluginDir(t)

	root := harness.RepoRoot(t)
	before := pulumiFiles(t, root)
	project := harness.ProjectCopy(t)
	// The CLI is started by its full path, and its folder is not on PATH:
	// the language host is found next to it, as a bundled one.
	env := eng.PlainEnv([]string{providerDir, filepath.Dir(goTool), "/usr/bin", "/bin"},
		stack.PreflightEnv+"=off") // the preflight needs Scaleway credentials
	run := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), cli, args...)
		cmd.Dir, cmd.Env = project, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		require.NoError(t, err, "pulumi %s failed:\n%s\n%s", strings.Join(args, " "), stdout.String(), stderr.String())
		return stdout.String(), stderr.String()
	}
	run("login", eng.Backend)
	run("stack", "select", plainStack, "--create")
	stdout, stderr := run("preview", "--json", "--non-interactive")
	if strings.TrimSpace(stderr) != "" {
		t.Logf("pulumi preview: stderr:\n%s", stderr)
	}

	var digest struct {
		Steps []struct {
			Op  string `json:"op"`
			URN string `json:"urn"`
		} `json:"steps"`
		Diagnostics []struct {
			Message string `json:"message"`
		} `json:"diagnostics"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &digest), "pulumi preview --json printed:\n%s", stdout)
	var planned, engines []string
	for _, s := range digest.Steps {
		urn := resource.URN(s.URN)
		assert.Equal(t, "create", s.Op, "a new stack only creates: %s", s.URN)
		// The engine adds the stack, and default providers (which
		// preview --json does not list); the program registers neither.
		if urn.QualifiedType() == resource.RootStackType ||
			(strings.HasPrefix(string(urn.Type()), "pulumi:providers:") && strings.HasPrefix(urn.Name(), "default")) {
			engines = append(engines, urn.Name())
			continue
		}
		planned = append(planned, s.URN)
	}
	var messages []string
	for _, d := range digest.Diagnostics {
		messages = append(messages, strings.TrimSpace(d.Message))
	}
	t.Logf("pulumi preview: %d steps: the engine's %v and the program's %d %v; diagnostics:\n%s",
		len(digest.Steps), engines, len(planned), countTypes(planned), strings.Join(messages, "\n"))

	// The same stack file the preview read (the salt the CLI added aside).
	config, err := offline.ReadStackConfig(project, plainStack)
	require.NoError(t, err)
	cloud, err := mockcloud.Run(plainStack, config.Values, config.Encrypted, stack.Deploy)
	require.NoError(t, err, "the program under the mock engine")
	var mocked []string
	for _, r := range cloud.Resources() {
		mocked = append(mocked, r.URN)
	}
	require.NotEmpty(t, mocked)
	assert.Equal(t, countTypes(mocked), countTypes(planned), "resources per type: preview against the mock run")
	assert.ElementsMatch(t, mocked, planned, "the preview plans the URNs the mock run records")

	// The readiness provider came from PATH, as the README says the engine
	// warns; the language host from next to the CLI, with no warning.
	output := stderr + "\n" + strings.Join(messages, "\n")
	assert.Contains(t, output, "using pulumi-resource-gitlabwait from $PATH at "+providerDir)
	assert.NotContains(t, output, "pulumi-language-go from $PATH")

	assert.Equal(t, before, pulumiFiles(t, root), "the checkout's Pulumi.yaml, stack files, go.mod and go.sum are untouched")
	// The CLI did write into its working folder: the passphrase's salt.
	salted, err := os.ReadFile(filepath.Join(project, "Pulumi."+plainStack+".yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(salted), "encryptionsalt:", "the copy's stack file got the salt")
}

// pulumiFiles returns the contents of the files in dir that the CLI or the
// Go language host write to: Pulumi.yaml, the stack files, go.mod, go.sum.
func pulumiFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "Pulumi.*"))
	require.NoError(t, err)
	names = append(names, filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum"))
	out := map[string]string{}
	for _, name := range names {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		out[filepath.Base(name)] = string(b)
	}
	return out
}

// countTypes counts URNs by resource type, for a readable failure.
func countTypes(urns []string) map[string]int {
	out := map[string]int{}
	for _, u := range urns {
		out[string(resource.URN(u).Type())]++
	}
	return out
}

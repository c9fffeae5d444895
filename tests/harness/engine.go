package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	k8sutil "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/utilities"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
)

// Variables that tools/build prints.
const (
	// PulumiDirEnv names the folder that holds the pulumi CLI.
	PulumiDirEnv = "GLK_PULUMI_DIR"
	// PluginsDirEnv names the folder that holds pulumi-resource-kubernetes.
	PluginsDirEnv = "GLK_PLUGINS_DIR"
)

// Passphrase encrypts the secrets of every test stack.
const Passphrase = "glk-test-passphrase"

// kubernetesSDK is the module whose version the Kubernetes plugin must have.
const kubernetesSDK = "github.com/pulumi/pulumi-kubernetes/sdk/v4"

// Engine is the real Pulumi engine for one test: the CLI that tools/build
// made, a throwaway PULUMI_HOME, a file:// backend in a temp folder and a
// passphrase secrets provider. Nothing reaches a network: plugins are never
// downloaded, only those installed into Home (InstallPlugin) or named in the
// project settings (StackOptions.Settings) are used.
type Engine struct {
	// Home is PULUMI_HOME; plugins are installed here.
	Home string
	// Backend is the file:// URL of the state backend.
	Backend string
	// Env is the environment every CLI run gets on top of the test's.
	Env map[string]string
	// Command runs the CLI.
	Command auto.PulumiCommand
}

// NewEngine prepares an engine for t. The CLI comes from $GLK_PULUMI_DIR;
// where it is missing the test skips, or fails under GLK_STRICT/CI.
func NewEngine(t testing.TB) *Engine {
	t.Helper()
	cli := testenv.File(t, PulumiDirEnv, "pulumi", `run eval "$(tools/build pulumi)"`)
	dir := filepath.Dir(cli)
	// auto.NewPulumiCommand wants ROOT/bin/pulumi; link it there rather
	// than changing PATH, so that tests may run in parallel.
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cli, filepath.Join(root, "bin", "pulumi")); err != nil {
		t.Fatal(err)
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root})
	if err != nil {
		t.Fatalf("the pulumi CLI in %s does not run: %v", dir, err)
	}
	home, state, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	e := &Engine{
		Home:    home,
		Backend: "file://" + filepath.ToSlash(state),
		Command: cmd,
		Env: map[string]string{
			"PULUMI_HOME":              home,
			"PULUMI_BACKEND_URL":       "file://" + filepath.ToSlash(state),
			"PULUMI_CONFIG_PASSPHRASE": Passphrase,
			"PULUMI_SKIP_UPDATE_CHECK": "true",
			// A missing plugin fails at once instead of being fetched.
			"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
			// Plugins on PATH are not picked up by accident.
			"PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
			"PULUMI_SKIP_CONFIRMATIONS":     "true",
			// The Kubernetes provider writes a kubeconfig with admin
			// credentials into TMPDIR at every start and never removes it.
			"TMPDIR": tmp,
		},
	}
	return e
}

// InstallPlugin installs a plugin binary into the engine's PULUMI_HOME under
// the given kind ("resource"), name and version ("v4.32.0").
func (e *Engine) InstallPlugin(t testing.TB, kind, name, version, binary string) {
	t.Helper()
	var out strings.Builder
	_, _, code, err := e.Command.Run(t.Context(), t.TempDir(), nil, []io.Writer{&out}, []io.Writer{&out}, e.environ(),
		"plugin", "install", kind, name, version, "--file", binary, "--non-interactive")
	if err != nil || code != 0 {
		t.Fatalf("install plugin %s %s %s from %s: %v\n%s", kind, name, version, binary, err, out.String())
	}
}

// environ returns Env as KEY=VALUE pairs, sorted.
func (e *Engine) environ() []string {
	env := make([]string, 0, len(e.Env))
	for k, v := range e.Env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// KubernetesSDKVersion returns the version of the pulumi-kubernetes SDK
// the tests are built with ("v4.32.0"): the plugin version the engine will
// ask for.
func KubernetesSDKVersion() (string, error) {
	// The SDK asks for the version it was generated with on every resource.
	opts, err := pulumi.NewResourceOptions(k8sutil.PkgResourceDefaultOpts(nil)...)
	if err != nil || opts.Version == "" {
		return "", fmt.Errorf("cannot tell which plugin version %s asks for (%v)", kubernetesSDK, err)
	}
	return "v" + strings.TrimPrefix(opts.Version, "v"), nil
}

// InstallKubernetesPlugin installs pulumi-resource-kubernetes from
// $GLK_PLUGINS_DIR under the version of the SDK the test uses (the engine
// needs the two to match). Where it is missing the test skips, or fails
// under GLK_STRICT/CI.
func (e *Engine) InstallKubernetesPlugin(t testing.TB) {
	t.Helper()
	const how = `run eval "$(tools/build k8sprovider)"`
	bin := testenv.File(t, PluginsDirEnv, "pulumi-resource-kubernetes", how)
	version, err := KubernetesSDKVersion()
	if err != nil {
		t.Fatal(err)
	}
	e.InstallPlugin(t, "resource", "kubernetes", version, bin)
}

// StackOptions describes a stack for Engine.Stack.
type StackOptions struct {
	// Project names the project; empty means "glk-test".
	Project string
	// Stack names the stack; empty means "test".
	Stack string
	// Program is the inline program: stack.Deploy, or a test's own.
	Program pulumi.RunFunc
	// Config is set on the stack before it is returned.
	Config auto.ConfigMap
	// Settings, when set, edits the project settings, for example to add
	// Plugins.Providers for a provider built by the test.
	Settings func(*workspace.Project)
}

// Stack creates (or selects) an inline-program stack in the engine's
// backend.
func (e *Engine) Stack(t testing.TB, opts StackOptions) auto.Stack {
	t.Helper()
	if opts.Project == "" {
		opts.Project = "glk-test"
	}
	if opts.Stack == "" {
		opts.Stack = "test"
	}
	project := workspace.Project{
		Name:    tokens.PackageName(opts.Project),
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
	}
	if opts.Settings != nil {
		opts.Settings(&project)
	}
	s, err := auto.UpsertStackInlineSource(t.Context(), opts.Stack, opts.Project, opts.Program,
		auto.Pulumi(e.Command),
		auto.WorkDir(t.TempDir()),
		auto.Project(project),
		auto.SecretsProvider("passphrase"),
		auto.EnvVars(e.Env),
	)
	if err != nil {
		t.Fatalf("create stack %s/%s: %v", opts.Project, opts.Stack, err)
	}
	if len(opts.Config) > 0 {
		if err := s.SetAllConfig(t.Context(), opts.Config); err != nil {
			t.Fatalf("set the config of stack %s: %v", opts.Stack, err)
		}
	}
	return s
}

// Up runs `pulumi up` and fails the test on error; the engine's output goes
// to the test log.
func Up(t testing.TB, s auto.Stack, opts ...optup.Option) auto.UpResult {
	t.Helper()
	w := logWriter(t, "up")
	defer w.Close()
	res, err := s.Up(t.Context(), append([]optup.Option{optup.ProgressStreams(w)}, opts...)...)
	if err != nil {
		t.Fatalf("pulumi up of stack %s failed: %v", s.Name(), err)
	}
	return res
}

// Preview runs `pulumi preview` and fails the test on error.
func Preview(t testing.TB, s auto.Stack, opts ...optpreview.Option) auto.PreviewResult {
	t.Helper()
	w := logWriter(t, "preview")
	defer w.Close()
	res, err := s.Preview(t.Context(), append([]optpreview.Option{optpreview.ProgressStreams(w)}, opts...)...)
	if err != nil {
		t.Fatalf("pulumi preview of stack %s failed: %v", s.Name(), err)
	}
	return res
}

// Destroy runs `pulumi destroy` and fails the test on error.
func Destroy(t testing.TB, s auto.Stack, opts ...optdestroy.Option) auto.DestroyResult {
	t.Helper()
	w := logWriter(t, "destroy")
	defer w.Close()
	res, err := s.Destroy(t.Context(), append([]optdestroy.Option{optdestroy.ProgressStreams(w)}, opts...)...)
	if err != nil {
		t.Fatalf("pulumi destroy of stack %s failed: %v", s.Name(), err)
	}
	return res
}

// Changed returns the operations of an update other than "same", such as
// {"create": 3}; empty means the update changed nothing.
func Changed(summary auto.UpdateSummary) map[string]int {
	out := map[string]int{}
	if summary.ResourceChanges == nil {
		return out
	}
	for op, n := range *summary.ResourceChanges {
		if op != "same" && n > 0 {
			out[op] = n
		}
	}
	return out
}

// logWriter returns a writer that sends complete lines to t.Log.
func logWriter(t testing.TB, prefix string) io.WriteCloser {
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			if line := strings.TrimRight(sc.Text(), " "); line != "" {
				t.Logf("%s: %s", prefix, line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return closer{pw, &wg}
}

type closer struct {
	*io.PipeWriter
	wg *sync.WaitGroup
}

func (c closer) Close() error {
	err := c.PipeWriter.Close()
	c.wg.Wait()
	return err
}

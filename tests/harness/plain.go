package harness

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
)

// LanguageGoDirEnv names the folder that holds pulumi-language-go, the Go
// language host, which tools/build also links next to the CLI.
const LanguageGoDirEnv = "GLK_LANGUAGE_GO_DIR"

// languageHost is the Go language host's executable.
const languageHost = "pulumi-language-go"

// bridgedStandInPackage is the stand-in bridged provider plugins' main package.
const bridgedStandInPackage = "github.com/gitlab-kapsule/gitlab-kapsule/tests/standin/bridged"

var bridgedStandIn builtBinary

// PlainCLI returns the path of the pulumi CLI in $GLK_PULUMI_DIR, for a
// test that runs it as a user does (plain `pulumi preview` in a project
// folder), after checking that the Go language host it needs sits next to
// it, where the CLI looks for a bundled one (tools/build links it there),
// and is the build $GLK_LANGUAGE_GO_DIR names when that is set. Where the
// CLI or the host is missing the test skips, or fails under GLK_STRICT/CI.
func PlainCLI(t testing.TB) string {
	t.Helper()
	const how = `run eval "$(tools/build pulumi languagego)"`
	cli := testenv.File(t, PulumiDirEnv, "pulumi", how)
	dir := filepath.Dir(cli)
	host := filepath.Join(dir, languageHost)
	got, err := os.Stat(host)
	if err != nil || got.Mode()&0o100 == 0 {
		testenv.Missing(t, host+" (the Go language host, next to the CLI)", how)
	}
	if built := os.Getenv(LanguageGoDirEnv); built != "" {
		want, err := os.Stat(filepath.Join(built, languageHost))
		if err != nil || !os.SameFile(got, want) {
			t.Fatalf("%s is not the language host in $%s=%s: %s relinks it", host, LanguageGoDirEnv, built, how)
		}
	}
	return cli
}

// InstallBridgedStandIns installs the stand-in bridged provider
// (tests/standin/bridged, built once) into the engine's PULUMI_HOME as the
// plugin of each package named, at the version the program pins for it.
func (e *Engine) InstallBridgedStandIns(t testing.TB, packages ...string) {
	t.Helper()
	bin := filepath.Join(bridgedStandIn.get(t, "pulumi-resource-bridged", bridgedStandInPackage, ""), "pulumi-resource-bridged")
	for _, pkg := range packages {
		pin, ok := plugins.All()[pkg]
		if !ok {
			t.Fatalf("no plugin version for package %s in internal/plugins", pkg)
		}
		e.InstallPlugin(t, "resource", pkg, "v"+pin.Version, bin)
	}
}

// ProjectCopy copies the checkout's files (tracked, and untracked ones git
// does not ignore, as they are in the work tree) into a temporary folder and
// returns it, so that a CLI run there cannot rewrite the checkout's own
// files, such as Pulumi.dev.yaml. The copies keep their modification times:
// the program compares the readiness provider's build time with its
// sources' (internal/plugins.StaleProviderWarning).
func ProjectCopy(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	git := testenv.Tool(t, "git", "install git")
	cmd := exec.CommandContext(t.Context(), git, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v\n%s", root, err, stderr.String())
	}
	dst := t.TempDir()
	for name := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if err := copyFile(filepath.Join(root, name), filepath.Join(dst, name)); err != nil {
			t.Fatalf("copy the project: %v", err)
		}
	}
	return dst
}

// copyFile copies one file, keeping its mode and modification time; a
// symbolic link is copied as a link, and a file deleted from the work tree
// is skipped.
func copyFile(src, dst string) error {
	st, err := os.Lstat(src)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Chtimes(dst, st.ModTime(), st.ModTime())
}

// PlainEnv is the environment for running the CLI by hand in a project
// folder on this engine: the test's own, without any PULUMI_, GLK_ or SCW_
// variable of the machine, with the engine's Env except
// PULUMI_IGNORE_AMBIENT_PLUGINS (a plain run finds the readiness provider
// on PATH) and PULUMI_BACKEND_URL (a plain run logs in), then extra
// (KEY=VALUE), and PATH set to path.
func (e *Engine) PlainEnv(path []string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || strings.HasPrefix(k, "PULUMI_") || strings.HasPrefix(k, "GLK_") || strings.HasPrefix(k, "SCW_") {
			continue
		}
		if _, ours := e.Env[k]; !ours {
			env = append(env, kv)
		}
	}
	for k, v := range e.Env {
		if k != "PULUMI_IGNORE_AMBIENT_PLUGINS" && k != "PULUMI_BACKEND_URL" {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, extra...)
	env = append(env, "PATH="+strings.Join(path, string(os.PathListSeparator)))
	slices.Sort(env)
	return env
}

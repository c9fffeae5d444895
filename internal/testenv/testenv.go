// Package testenv lets tests that need a real tool (sshd, cloud-init, a
// kube-apiserver, the Pulumi CLI) find it, and decides what a missing tool
// means: a failure under tests/run and in CI, a skip with the reason elsewhere.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Strict reports whether a missing tool must fail the test: tests/run sets
// GLK_STRICT=1 and CI sets CI=true, so nothing is silently skipped there.
func Strict() bool {
	return os.Getenv("GLK_STRICT") != "" || os.Getenv("CI") != ""
}

// Missing fails (strict) or skips the test, naming what is missing and how to get it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s is missing: %s", what, how)
	}
	t.Skipf("%s is missing (%s); tests/run installs it", what, how)
}

// Tool returns the path of an executable on PATH, or fails/skips the test.
func Tool(t testing.TB, name, how string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, how)
	}
	return path
}

// Env returns an environment variable that tests/run sets, or fails/skips the test.
func Env(t testing.TB, key, how string) string {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		Missing(t, "$"+key, how)
	}
	return v
}

// File returns the file name in the folder that the environment variable
// key names (as tools/build prints it), or fails/skips the test when either
// is missing.
func File(t testing.TB, key, name, how string) string {
	t.Helper()
	path := filepath.Join(Env(t, key, how), name)
	if _, err := os.Stat(path); err != nil {
		Missing(t, path, how)
	}
	return path
}

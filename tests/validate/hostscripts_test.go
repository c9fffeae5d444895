package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
)

// hostScript writes one of hostscripts.Files() to a temporary file.
func hostScript(t *testing.T, f hostscripts.File) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), filepath.Base(f.Path))
	require.NoError(t, os.WriteFile(p, f.Content, 0o600))
	return p
}

// The host scripts pass shellcheck at its strictest severity, and parse as Ruby.
func TestHostScriptsPassShellcheckAndRuby(t *testing.T) {
	t.Parallel()
	shellcheck := testenv.Tool(t, "shellcheck", "apt-get install shellcheck")
	ruby := testenv.Tool(t, "ruby", "apt-get install ruby")
	n := 0
	for _, f := range hostscripts.Files() {
		path := hostScript(t, f)
		var out []byte
		var err error
		if strings.HasSuffix(f.Path, ".rb") {
			out, err = exec.Command(ruby, "-c", path).CombinedOutput()
		} else {
			out, err = exec.Command(shellcheck, "--shell=bash", "--severity=style", path).CombinedOutput()
		}
		assert.NoError(t, err, "%s:\n%s", f.Path, out)
		n++
	}
	assert.Equal(t, 6, n)
}

// The GitLab host's stand-ins (tests/harness/gitlabhost) pass shellcheck
// too, following the library they source.
func TestGitLabHostStandInsPassShellcheck(t *testing.T) {
	t.Parallel()
	shellcheck := testenv.Tool(t, "shellcheck", "apt-get install shellcheck")
	dir := filepath.Join("..", "harness", "gitlabhost", "bin")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	args := []string{"-x", "--shell=bash", "--severity=style", "../lib/record.sh"}
	for _, e := range entries {
		args = append(args, e.Name())
	}
	cmd := exec.Command(shellcheck, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "shellcheck:\n%s", out)
	assert.Greater(t, len(entries), 10)
}

// shellcheck fails on what the host scripts must avoid, or the tests above prove nothing.
func TestShellcheckFlagsAnUnquotedExpansion(t *testing.T) {
	t.Parallel()
	shellcheck := testenv.Tool(t, "shellcheck", "apt-get install shellcheck")
	p := hostScript(t, hostscripts.File{Path: "/bad.sh", Content: []byte("#!/bin/bash\nrm -rf $1/tmp\n")})
	assert.Error(t, exec.Command(shellcheck, "--shell=bash", "--severity=style", p).Run())
}

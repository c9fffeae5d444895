package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// stateFile returns the path and content of the stack's state file as the
// file:// backend wrote it: where a secret must not appear in plain text.
// Stack.Export cannot tell, since the Automation API exports with
// --show-secrets.
func stateFile(t *testing.T, eng *harness.Engine, s auto.Stack) (string, []byte) {
	t.Helper()
	root := strings.TrimPrefix(eng.Backend, "file://")
	var files []string
	for _, pattern := range []string{"*/" + s.Name() + ".json", s.Name() + ".json"} {
		found, err := filepath.Glob(filepath.Join(root, ".pulumi", "stacks", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, found...)
	}
	if len(files) != 1 {
		t.Fatalf("found %v as the state file of stack %s in %s, want one file", files, s.Name(), root)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return files[0], raw
}

package stack_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The outputs are a contract: the program exports exactly the declared
// names (the demo's only with gitops:enabled), and the README documents
// each one, so a reader of the stack never looks for a name that is not there.
func TestOutputsAreTheDeclaredContract(t *testing.T) {
	t.Parallel()
	var declared []string
	for _, o := range stack.AllOutputs {
		declared = append(declared, string(o))
	}
	assert.ElementsMatch(t, declared, keys(mustRun(t, nil).outputs), "with the GitOps demo")

	demo := []string{string(stack.DemoNamespace), string(stack.DemoCheckCommand), string(stack.DemoManifestsURL)}
	without := slices.DeleteFunc(slices.Clone(declared), func(o string) bool { return slices.Contains(demo, o) })
	assert.ElementsMatch(t, without, keys(mustRun(t, map[string]string{"gitops:enabled": "false"}).outputs), "without it")

	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	section := string(readme)
	start := strings.Index(section, "## Outputs")
	require.GreaterOrEqual(t, start, 0, "README has an Outputs section")
	section = section[start:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	for _, o := range declared {
		assert.Contains(t, section, "`"+o+"`", "README's Outputs section documents %s", o)
	}
	// And it documents nothing else: the first column of its table names outputs.
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, name := range backticked.FindAllStringSubmatch(first, -1) {
			assert.Contains(t, declared, name[1], "README documents an output the program does not export")
		}
	}
}

var backticked = regexp.MustCompile("`([a-zA-Z]+)`")

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

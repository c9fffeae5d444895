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
// names (the demo's only with gitops:enabled; a one-cluster stack its
// cluster's at the top level, kapsule:clusters under clusters and
// kubeconfigs), and the README documents each one, so a reader of the stack
// never looks for a name that is not there.
func TestOutputsAreTheDeclaredContract(t *testing.T) {
	t.Parallel()
	var declared []string
	for _, o := range stack.AllOutputs {
		declared = append(declared, string(o))
	}
	names := func(os ...stack.Output) []string {
		var out []string
		for _, o := range os {
			out = append(out, string(o))
		}
		return out
	}
	drop := func(from []string, os ...stack.Output) []string {
		gone := names(os...)
		return slices.DeleteFunc(slices.Clone(from), func(o string) bool { return slices.Contains(gone, o) })
	}
	oneCluster := drop(declared, stack.Clusters, stack.Kubeconfigs)
	assert.ElementsMatch(t, oneCluster, keys(mustRun(t, nil).outputs), "with the GitOps demo and the runner")
	demo := []stack.Output{stack.DemoNamespace, stack.DemoCheckCommand, stack.DemoManifestsURL}
	assert.ElementsMatch(t, drop(oneCluster, demo...), keys(mustRun(t, map[string]string{"gitops:enabled": "false"}).outputs), "without the demo")
	runner := []stack.Output{stack.RunnerID, stack.CINamespace, stack.PipelineURL}
	assert.ElementsMatch(t, drop(oneCluster, runner...), keys(mustRun(t, map[string]string{"runner:enabled": "false"}).outputs), "without the runner")

	listed := mustRun(t, map[string]string{"kapsule:clusters": `[{"name":"staging"},{"name":"prod","gitops":false}]`}).outputs
	assert.ElementsMatch(t, drop(declared, stack.PerCluster...), keys(listed), "with kapsule:clusters (pipelineUrl is the stack's)")
	byName := listed[string(stack.Clusters)].Value.(map[string]any)
	assert.ElementsMatch(t, drop(names(stack.PerCluster...), stack.Kubeconfig), keys(byName["staging"].(map[string]any)), "a cluster with the demo")
	assert.ElementsMatch(t, drop(names(stack.PerCluster...), append(demo, stack.Kubeconfig)...), keys(byName["prod"].(map[string]any)), "a cluster without")
	assert.False(t, listed[string(stack.Clusters)].Secret, "the clusters' names and agents are no secret")
	assert.True(t, listed[string(stack.Kubeconfigs)].Secret, "their kubeconfigs are")
	assert.ElementsMatch(t, []string{"staging", "prod"}, keys(listed[string(stack.Kubeconfigs)].Value.(map[string]any)))

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

// up --reconfigure replaces the resource by this URN: it must be the one
// the program registers.
func TestHostConfigurationURNIsTheProgramsOwn(t *testing.T) {
	t.Parallel()
	configured := one(t, mustRun(t, nil).cloud, "gitlabwait:index:GitLabConfigured")
	assert.Equal(t, configured.URN, stack.HostConfigurationURN("dev", "gitlab-kapsule"))
}

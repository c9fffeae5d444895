package stack_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPipelineRunsOnceAgentsAndRunnersAre: the CI file is committed after
// the demos' commits, every agent's connection and every runner's release;
// the wait asks for the pipeline of exactly that commit, on the project's
// default branch, with the automation token, through the bastion.
func TestPipelineRunsOnceAgentsAndRunnersAre(t *testing.T) {
	t.Parallel()
	r := mustRun(t, clusterList("staging", "prod"))
	c := r.cloud
	file := named(t, c, "pipeline-file")
	assert.Equal(t, ".gitlab-ci.yml", str(t, file, "filePath"))
	for _, dep := range []string{"agent-staging-connected", "agent-prod-connected", "runner-staging-release", "runner-prod-release", "gitops-prod-file-service"} {
		assert.Contains(t, file.Dependencies, named(t, c, dep).URN, "the CI file waits for %s", dep)
	}
	assert.Equal(t, named(t, c, "agent-gitlab").URN, file.Provider, "through the agents' GitLab provider")

	wait := named(t, c, "pipeline-succeeded")
	assert.Equal(t, "mock-commit-of-pipeline-file", str(t, wait, "sha"), "the pipeline of the CI file's own commit")
	assert.Equal(t, "main", str(t, wait, "ref"))
	assert.Equal(t, "root/kubernetes-agent", str(t, wait, "projectPath"))
	require.True(t, wait.Inputs["token"].IsSecret())
	assert.Equal(t, str(t, named(t, c, "gitlab-configured"), "adminToken"), str(t, wait, "token"), "the automation token")
	assert.Equal(t, mockcloud.GatewayIP, str(t, wait, "bastionHost"))
	assert.Equal(t, "https://10.0.0.10/root/kubernetes-agent/-/pipelines/99", r.outputs["pipelineUrl"].Value)

	content := str(t, file, "content")
	for _, want := range []string{"deploy-staging:", "deploy-prod:", "KUBE_CONTEXT: root/kubernetes-agent:staging", "KUBE_CONTEXT: root/kubernetes-agent:prod"} {
		assert.Contains(t, content, want)
	}
}

// TestRunnerPerClusterWithItsOwnProvider: each cluster's runner goes into
// that cluster, waits for that cluster's pools, and its token stays secret.
func TestRunnerPerClusterWithItsOwnProvider(t *testing.T) {
	t.Parallel()
	r := mustRun(t, clusterList("staging", "prod"))
	c := r.cloud
	for _, cl := range []string{"staging", "prod"} {
		release := named(t, c, "runner-"+cl+"-release")
		assert.Equal(t, named(t, c, "kapsule-"+cl+"-k8s").URN, release.Provider)
		assert.True(t, slices.ContainsFunc(release.Dependencies, func(d string) bool { return d == named(t, c, "kapsule-"+cl+"-pool").URN }),
			"the runner of %s waits for its pool", cl)
		reg := named(t, c, "runner-"+cl+"-registration")
		assert.Contains(t, reg.SecretOutputs, "token")
	}
	for name, out := range r.outputs {
		if out.Secret {
			continue
		}
		plain, _ := json.Marshal(out.Value)
		assert.NotContains(t, string(plain), mockcloud.MockRunnerToken, "plain output %s leaks the runner's token", name)
	}
	byName := r.outputs["clusters"].Value.(map[string]any)
	assert.Equal(t, "runner-prod-registration-id", byName["prod"].(map[string]any)["runnerId"])
	assert.Equal(t, "gitops-demo", byName["prod"].(map[string]any)["ciNamespace"])
}

// TestCIAccessProjectsOutsideRootAreFlagged: GitLab ignores a ci_access
// project outside the agents' project's top-level namespace by default, so
// up says so, and only for those.
func TestCIAccessProjectsOutsideRootAreFlagged(t *testing.T) {
	t.Parallel()
	_, warnings, err := mockcloud.RunLogged("dev", map[string]string{"agent:ciAccessProjects": mockcloud.List("root/app", "team/app")}, nil, stack.Deploy)
	require.NoError(t, err)
	var flagged []string
	for _, w := range warnings {
		if strings.Contains(w, "agent:ciAccessProjects lists") {
			flagged = append(flagged, w)
		}
	}
	require.Len(t, flagged, 1, "%q", warnings)
	assert.Contains(t, flagged[0], `"team/app"`)
	assert.Contains(t, flagged[0], "instance-level authorization")
}

package stack_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAgentOutputs(t *testing.T) {
	t.Parallel()
	r := mustRun(t, nil)
	assert.Equal(t, "kapsule", r.outputs["agentName"].Value)
	assert.EqualValues(t, 42, r.outputs["agentId"].Value)
	assert.Equal(t, "https://10.0.0.10/root/kubernetes-agent", r.outputs["agentConfigProjectUrl"].Value)
	assert.Equal(t, "root/kubernetes-agent:kapsule", r.outputs["agentKubeContext"].Value)
	for name, out := range r.outputs {
		if out.Secret {
			continue
		}
		plain, _ := json.Marshal(out.Value)
		assert.NotContains(t, string(plain), mockcloud.MockAgentToken, "plain output %s leaks the agent token", name)
	}
}

func TestAgentIsWiredToGitLabHostAndKapsule(t *testing.T) {
	t.Parallel()
	c := mustRun(t, fullConfig()).cloud
	release := named(t, c, "agent-release")
	values := release.Inputs["values"].ObjectValue()
	cfg := values["config"].ObjectValue()
	assert.Equal(t, "grpcs://10.0.0.10:8150", cfg["kasAddress"].StringValue(), "KAS address from GitLabHost")
	assert.Equal(t, "mock-certificate-of-gitlab-ca", cfg["kasCaCert"].StringValue(), "the private CA from GitLabHost")

	secret := named(t, c, "agent-token-secret")
	assert.True(t, secret.Inputs["stringData"].IsSecret() || secret.Inputs["stringData"].ObjectValue()["token"].IsSecret())

	prov := one(t, c, "pulumi:providers:gitlab")
	ready := one(t, c, "gitlabwait:index:GitLabConfigured")
	adminToken := str(t, ready, "adminToken")
	require.True(t, prov.Inputs["token"].IsSecret())
	assert.Equal(t, adminToken, prov.Inputs["token"].SecretValue().Element.StringValue(), "the GitLab provider uses the token the host installs")

	wait := one(t, c, "gitlabwait:index:AgentConnected")
	assert.Equal(t, mockcloud.GatewayIP, str(t, wait, "bastionHost"))
	assert.Equal(t, "10.0.0.10", str(t, wait, "targetHost"))
	assert.True(t, wait.Inputs["privateKey"].IsSecret())
	assert.True(t, wait.Inputs["token"].IsSecret())
}

// Deletes run in reverse dependency order, so these edges are the destroy
// order: the GitLab resources go before GitLab's instance (through their
// provider, configured from GitLabHost's gated outputs), and the Helm release
// and namespaces go before the cluster and its pool (through Kapsule's
// Kubernetes provider and the pool gate).
func TestAgentDestroyOrder(t *testing.T) {
	t.Parallel()
	c := mustRun(t, nil).cloud
	dependsOn := func(r, on mockcloud.Resource) bool { return slices.Contains(r.Dependencies, on.URN) }

	gitlabProvider := one(t, c, "pulumi:providers:gitlab")
	ready := one(t, c, "gitlabwait:index:GitLabConfigured")
	assert.True(t, dependsOn(gitlabProvider, ready), "the GitLab provider is configured from GitLab's configuration, so it and its resources are deleted before the instance")
	for _, typ := range []string{"gitlab:index/project:Project", "gitlab:index/clusterAgent:ClusterAgent", "gitlab:index/clusterAgentToken:ClusterAgentToken", "gitlab:index/repositoryFile:RepositoryFile", "gitlab:index/deployToken:DeployToken"} {
		for _, r := range c.OfType(typ) {
			assert.Equal(t, gitlabProvider.URN, r.Provider, "%s %s uses the GitLab provider", typ, r.Name)
		}
	}
	server := one(t, c, "scaleway:instance/server:Server")
	assert.True(t, dependsOn(ready, server), "the configuration waits for the server, so the server goes last")

	k8sProvider := one(t, c, "pulumi:providers:kubernetes")
	cluster := one(t, c, "scaleway:kubernetes/cluster:Cluster")
	pool := one(t, c, "scaleway:kubernetes/pool:Pool")
	assert.True(t, dependsOn(k8sProvider, cluster), "the Kubernetes provider comes from the cluster's kubeconfig")
	release := named(t, c, "agent-release")
	assert.Equal(t, k8sProvider.URN, release.Provider)
	assert.True(t, dependsOn(release, pool), "agentk needs nodes; the release goes before the pool")
	for _, ns := range c.OfType("kubernetes:core/v1:Namespace") {
		assert.Equal(t, k8sProvider.URN, ns.Provider)
	}
}

// A replaced GitLab host (same data volume, new instance) means the agents
// must reconnect: each agent's wait takes the host's instance id.
func TestAgentWaitsAgainForAReplacedGitLabHost(t *testing.T) {
	t.Parallel()
	c := mustRun(t, nil).cloud
	server := one(t, c, "scaleway:instance/server:Server")
	wait := one(t, c, "gitlabwait:index:AgentConnected")
	assert.Equal(t, server.ID, str(t, wait, "gitlabInstanceId"))
}

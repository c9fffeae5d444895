package stack_test

import (
	"slices"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGitOpsDemoIsWiredToGitLabHostKapsuleAndAgent(t *testing.T) {
	t.Parallel()
	r := mustRun(t, nil)
	c := r.cloud

	repo := one(t, c, "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository")
	spec := repo.Inputs["spec"].ObjectValue()
	assert.Equal(t, "https://10.0.0.10/root/kubernetes-agent.git", spec["url"].StringValue(), "Flux clones the agent's project on GitLab's private address")

	secret := named(t, c, "gitops-auth")
	data := secret.Inputs["stringData"]
	require.True(t, data.ContainsSecrets(), "the deploy token is a secret")
	if data.IsSecret() {
		data = data.SecretValue().Element
	}
	ca := data.ObjectValue()["ca.crt"]
	if ca.IsSecret() {
		ca = ca.SecretValue().Element
	}
	assert.Equal(t, "mock-certificate-of-gitlab-ca", ca.StringValue(), "the private CA from GitLabHost")

	project := named(t, c, "agent-project")
	token := one(t, c, "gitlab:index/deployToken:DeployToken")
	assert.Equal(t, project.ID, str(t, token, "project"), "the deploy token is the agent's configuration project's")
	agentConfig := named(t, c, "agent-config")
	first := named(t, c, "gitops-file-deployment")
	assert.True(t, slices.Contains(first.Dependencies, agentConfig.URN), "the demo commits after the agent's config commit")

	// Destroy order: the Kustomization (whose finalizer prunes nginx) goes
	// before Flux's release, which goes before the pool and the cluster.
	sync := one(t, c, "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization")
	flux := named(t, c, "flux-release")
	pool := one(t, c, "scaleway:kubernetes/pool:Pool")
	k8s := one(t, c, "pulumi:providers:kubernetes")
	assert.True(t, slices.Contains(sync.Dependencies, flux.URN))
	assert.True(t, slices.Contains(flux.Dependencies, pool.URN), "Flux's controllers need nodes")
	// agentk's Flux module looks for Flux's CRDs, with the access to read
	// them, only when it starts: agentk starts after both.
	agentk := named(t, c, "agent-release")
	for _, need := range []string{"flux-release", "flux-gitlab-agent-flux-reader-binding", "flux-flux-system-gitlab-agent-flux-receiver-binding"} {
		assert.True(t, slices.Contains(agentk.Dependencies, named(t, c, need).URN), "agentk starts after %s", need)
	}
	for _, r := range []mockcloud.Resource{sync, flux, repo, secret} {
		assert.Equal(t, k8s.URN, r.Provider)
	}

	assert.Equal(t, "gitops-demo", r.outputs["demoNamespace"].Value)
	assert.Equal(t, "kubectl -n gitops-demo get deploy,svc", r.outputs["demoCheckCommand"].Value)
	assert.Equal(t, "https://10.0.0.10/root/kubernetes-agent/-/tree/main/manifests/gitops-demo", r.outputs["demoManifestsUrl"].Value)
}

func TestGitOpsDemoWithoutTLSHasNoCA(t *testing.T) {
	t.Parallel()
	c := mustRun(t, map[string]string{"gitlabHost:tls": "false"}).cloud
	repo := one(t, c, "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository")
	assert.Equal(t, "http://10.0.0.10/root/kubernetes-agent.git", repo.Inputs["spec"].ObjectValue()["url"].StringValue())
	data := named(t, c, "gitops-auth").Inputs["stringData"]
	if data.IsSecret() {
		data = data.SecretValue().Element
	}
	assert.NotContains(t, data.ObjectValue(), resource.PropertyKey("ca.crt"))
}

func TestGitOpsDemoCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	r := mustRun(t, map[string]string{"gitops:enabled": "false"})
	assert.Empty(t, r.cloud.OfType("gitlab-kapsule:index:GitOpsDemo"))
	assert.NotContains(t, r.outputs, "demoNamespace")

	_, err := run(t, map[string]string{"agent:namespaces": mockcloud.List("apps")})
	require.ErrorContains(t, err, "gitops:enabled")
}

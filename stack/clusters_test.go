package stack_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clusterList writes kapsule:clusters for the named clusters; prod gets a
// second, autoscaled pool in another zone.
func clusterList(names ...string) map[string]string {
	var items []string
	for _, n := range names {
		item := fmt.Sprintf(`{"name": %q}`, n)
		if n == "prod" {
			item = `{"name": "prod", "pools": [{"name": "pool"}, {"name": "burst", "nodeType": "PRO2-XS", "autoscaling": {"min": 1, "max": 4}, "zone": "fr-par-2"}]}`
		}
		items = append(items, item)
	}
	return map[string]string{"kapsule:clusters": "[" + strings.Join(items, ",") + "]"}
}

// TestEveryClusterGetsItsOwn runs 1, 2 and 3 clusters and counts what each
// gets, by name: its cluster, pools, Kubernetes provider, Flux, agent and
// demo; the GitLab side (provider, configuration project) is one for all.
func TestEveryClusterGetsItsOwn(t *testing.T) {
	t.Parallel()
	for _, clusters := range [][]string{{"staging"}, {"staging", "prod"}, {"staging", "prod", "edge"}} {
		t.Run(fmt.Sprint(len(clusters)), func(t *testing.T) {
			t.Parallel()
			c := mustRun(t, clusterList(clusters...)).cloud
			count := func(typ string) int { return len(c.OfType(typ)) }
			n := len(clusters)
			pools := n
			if slices.Contains(clusters, "prod") {
				pools++
			}
			assert.Equal(t, n, count("scaleway:kubernetes/cluster:Cluster"))
			assert.Equal(t, pools, count("scaleway:kubernetes/pool:Pool"))
			assert.Equal(t, n, count("pulumi:providers:kubernetes"))
			assert.Equal(t, n, count("gitlab:index/clusterAgent:ClusterAgent"))
			assert.Equal(t, n, count("gitlab:index/clusterAgentToken:ClusterAgentToken"))
			assert.Equal(t, n, count("gitlabwait:index:AgentConnected"))
			assert.Equal(t, n, count("gitlab:index/deployToken:DeployToken"))
			assert.Equal(t, 3*n, count("kubernetes:helm.sh/v3:Release"), "agentk, Flux and the runner in each")
			assert.Equal(t, n, count("gitlab:index/userRunner:UserRunner"))
			assert.Equal(t, 1, count("gitlabwait:index:PipelineSucceeded"), "one pipeline deploys to every cluster")
			assert.Equal(t, 1, count("pulumi:providers:gitlab"))
			assert.Equal(t, 1, count("gitlab:index/project:Project"))

			for _, name := range clusters {
				cluster := named(t, c, "kapsule-"+name+"-cluster")
				assert.Equal(t, "glk-dev-"+name, str(t, cluster, "name"))
				registration := named(t, c, "agent-"+name+"-registration")
				assert.Equal(t, name, str(t, registration, "name"), "the agent is named after its cluster")
				assert.Equal(t, ".gitlab/agents/"+name+"/config.yaml", str(t, named(t, c, "agent-"+name+"-config"), "filePath"))
				assert.Equal(t, "clusters/"+name+"/gitops-demo/deployment.yaml", str(t, named(t, c, "gitops-"+name+"-file-deployment"), "filePath"))
				assert.Equal(t, "./clusters/"+name+"/gitops-demo",
					named(t, c, "gitops-"+name+"-sync").Inputs["spec"].ObjectValue()["path"].StringValue(), "Flux applies the cluster's own folder")
				assert.Equal(t, "flux-gitops-demo-"+name, str(t, named(t, c, "gitops-"+name+"-deploy-token"), "username"))
			}
			if slices.Contains(clusters, "prod") {
				burst := named(t, c, "kapsule-prod-burst")
				assert.Equal(t, "glk-dev-burst", str(t, burst, "name"))
				assert.Equal(t, "fr-par-2", str(t, burst, "zone"))
				assert.True(t, burst.Inputs["autoscaling"].BoolValue())
				assert.Equal(t, 4.0, burst.Inputs["maxSize"].NumberValue())
			}
		})
	}
}

// TestClustersAreNotCrossWired checks, over three clusters, that every
// Kubernetes object goes through its own cluster's provider, that each
// provider reads its own cluster's kubeconfig, and that what runs pods
// waits for its own cluster's pools.
func TestClustersAreNotCrossWired(t *testing.T) {
	t.Parallel()
	names := []string{"staging", "prod", "edge"}
	c := mustRun(t, clusterList(names...)).cloud
	clusterOf := func(logical string) string {
		for _, n := range names {
			for _, base := range []string{"kapsule", "agent", "flux", "gitops", "runner"} {
				if p := components.ClusterResourceName(base, n); logical == p || strings.HasPrefix(logical, p+"-") {
					return n
				}
			}
		}
		return ""
	}
	providerOf := map[string]string{}
	for _, p := range c.OfType("pulumi:providers:kubernetes") {
		var from []string
		for _, d := range p.Dependencies {
			if r, ok := c.ByURN(d); ok && r.Type == "scaleway:kubernetes/cluster:Cluster" {
				from = append(from, clusterOf(r.Name))
			}
		}
		require.Len(t, from, 1, "%s reads one cluster's kubeconfig", p.Name)
		assert.Equal(t, clusterOf(p.Name), from[0], "%s reads its own cluster's kubeconfig", p.Name)
		providerOf[p.URN] = from[0]
	}
	objects := 0
	for _, r := range c.Resources() {
		cluster, onKube := providerOf[r.Provider]
		if !onKube {
			continue
		}
		objects++
		assert.Equal(t, clusterOf(r.Name), cluster, "%s goes into its own cluster", r.Name)
		for _, d := range r.Dependencies {
			if dep, ok := c.ByURN(d); ok && dep.Type == "scaleway:kubernetes/pool:Pool" {
				assert.Equal(t, cluster, clusterOf(dep.Name), "%s waits for another cluster's pool %s", r.Name, dep.Name)
			}
		}
	}
	assert.Greater(t, objects, 3*10, "every cluster has its objects")
	for _, n := range names {
		release := named(t, c, "agent-"+n+"-release")
		waits := slices.ContainsFunc(release.Dependencies, func(d string) bool {
			dep, ok := c.ByURN(d)
			return ok && dep.Type == "scaleway:kubernetes/pool:Pool" && clusterOf(dep.Name) == n
		})
		assert.True(t, waits, "agentk of %s waits for its pools", n)
	}
}

// TestAListNamingItsClusterKapsuleIsTheOneClusterStack: a one-cluster stack
// moves to kapsule:clusters by naming its cluster "kapsule", and nothing of
// it changes (only its outputs move under clusters and kubeconfigs).
func TestAListNamingItsClusterKapsuleIsTheOneClusterStack(t *testing.T) {
	t.Parallel()
	oneCluster := record(t, mustRun(t, nil))
	listed := record(t, mustRun(t, map[string]string{"kapsule:clusters": `[{"name": "kapsule"}]`}))
	assert.Equal(t, oneCluster.Resources, listed.Resources)
}

// TestAddingAClusterTouchesNoOther adds a cluster at the end of the list
// and removes one from its middle: every resource of the other clusters,
// and of GitLab, keeps its URN, provider and inputs.
func TestAddingAClusterTouchesNoOther(t *testing.T) {
	t.Parallel()
	two := byURN(record(t, mustRun(t, clusterList("staging", "prod"))))
	three := byURN(record(t, mustRun(t, clusterList("staging", "prod", "edge"))))
	withoutProd := byURN(record(t, mustRun(t, clusterList("staging", "edge"))))

	// The demo pipeline is the one resource all clusters share: its file
	// gains edge's job (and the wait its commit).
	shared := func(urn string) bool { return strings.Contains(urn, "::gitlab-kapsule:index:CIPipeline$") }
	for urn, r := range two {
		if shared(urn) {
			continue
		}
		assert.Equal(t, r, three[urn], "adding edge changes %s", urn)
	}
	pipelineFile := "urn:pulumi:dev::gitlab-kapsule::gitlab-kapsule:index:CIPipeline$gitlab:index/repositoryFile:RepositoryFile::pipeline-file"
	assert.NotContains(t, string(two[pipelineFile].Inputs), "deploy-edge")
	assert.Contains(t, string(three[pipelineFile].Inputs), "deploy-edge", "the pipeline deploys to edge too")
	var added []string
	for urn := range three {
		if _, ok := two[urn]; !ok {
			added = append(added, urn)
		}
	}
	assert.NotEmpty(t, added)
	for _, urn := range added {
		assert.Regexp(t, `::(kapsule|agent|flux|gitops|runner)-edge\b`, urn, "adding edge adds only edge's resources")
	}

	for urn, r := range three {
		if shared(urn) {
			continue
		}
		if strings.Contains(urn, "-prod") {
			assert.NotContains(t, withoutProd, urn, "removing prod removes %s", urn)
			continue
		}
		assert.Equal(t, r, withoutProd[urn], "removing prod changes %s", urn)
	}
}

func byURN(r recorded) map[string]registration {
	m := map[string]registration{}
	for _, res := range r.Resources {
		m[res.URN] = res
	}
	return m
}

// TestEveryClustersKubeconfigStaysSecret: the list form's outputs hold
// every kubeconfig in one secret output, and nothing secret in plain ones.
func TestEveryClustersKubeconfigStaysSecret(t *testing.T) {
	t.Parallel()
	r := mustRun(t, clusterList("staging", "prod"))
	for name, out := range r.outputs {
		if out.Secret {
			continue
		}
		plain, _ := json.Marshal(out.Value)
		for _, secret := range []string{"mock-kubernetes-token", "glk-xxxx", "mock-openssh-private-key", "kind: Config"} {
			assert.NotContains(t, string(plain), secret, "plain output %s leaks a secret", name)
		}
	}
	for _, tok := range r.cloud.OfType("gitlab:index/clusterAgentToken:ClusterAgentToken") {
		assert.Contains(t, tok.SecretOutputs, "token", "%s's token stays secret", tok.Name)
	}
	for _, p := range r.cloud.OfType("pulumi:providers:kubernetes") {
		assert.True(t, p.Inputs["kubeconfig"].IsSecret(), "%s's kubeconfig is a secret input", p.Name)
	}
	assert.Len(t, r.outputs["kubeconfigs"].Value, 2)
}

// TestEachClusterFieldTouchesOnlyItsCluster changes one field of one
// cluster at a time and lists the resources whose inputs change: a field
// of prod must touch only prod's resources, as TestEachKeyTouchesOnlyItsResources
// does for the one-cluster keys.
func TestEachClusterFieldTouchesOnlyItsCluster(t *testing.T) {
	t.Parallel()
	list := func(prod string) map[string]string {
		return map[string]string{"kapsule:clusters": `[{"name": "staging"}, {"name": "prod"` + prod + `}]`}
	}
	before := byURN(record(t, mustRun(t, list(""))))
	for _, tc := range []struct {
		name, prod string
		touched    []string
	}{
		{"version", `, "version": "1.35"`, []string{"kapsule-prod-cluster"}},
		{"cni", `, "cni": "calico"`, []string{"kapsule-prod-cluster"}},
		{"pool size", `, "pools": [{"name": "pool", "size": 5}]`, []string{"kapsule-prod-pool"}},
		{"pool autoscaling", `, "pools": [{"name": "pool", "autoscaling": {"min": 2, "max": 6}}]`, []string{"kapsule-prod-pool"}},
		{"another pool", `, "pools": [{"name": "pool"}, {"name": "big", "nodeType": "PRO2-M"}]`, []string{"+kapsule-prod-big"}},
		{"access list", `, "apiAllowedCidrs": ["51.15.8.8/32"]`, []string{"+kapsule-prod-acl"}},
		// The pipeline's file names each agent's context.
		{"agent name", `, "agent": {"name": "production"}`, []string{"agent-prod-config", "agent-prod-connected", "agent-prod-registration", "pipeline-file"}},
		{"agent namespaces", `, "agent": {"namespaces": ["gitops-demo", "web"]}`, []string{"+agent-prod-target-web", "+agent-prod-web-gitlab-agent-deployer", "+agent-prod-web-gitlab-agent-deployer-binding"}},
		{"no demo", `, "gitops": false`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			after := byURN(record(t, mustRun(t, list(tc.prod))))
			var touched []string
			for urn, r := range after {
				name := urn[strings.LastIndex(urn, "::")+2:]
				old, ok := before[urn]
				switch {
				case !ok:
					touched = append(touched, "+"+name)
				case old.Provider != r.Provider || string(old.Inputs) != string(r.Inputs):
					touched = append(touched, name)
				}
			}
			removed := 0
			for urn := range before {
				if _, ok := after[urn]; !ok {
					removed++
					assert.Contains(t, urn, "-prod", "%s is not prod's", urn)
				}
			}
			slices.Sort(touched)
			assert.Equal(t, tc.touched, touched)
			if tc.name == "no demo" {
				assert.Equal(t, 13, removed, "prod's Flux and demo (13 resources) go, and nothing else")
			}
		})
	}
}

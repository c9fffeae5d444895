package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoClusters is a list with every field of a cluster and of a pool set.
const twoClusters = `[
  {"name": "staging"},
  {"name": "prod", "version": "1.35", "cni": "calico", "apiAllowedCidrs": ["51.15.1.0/24"],
   "agent": {"name": "production", "namespaces": ["gitops-demo", "shop"], "clusterAdmin": "false"},
   "gitops": false,
   "pools": [
     {"name": "general", "nodeType": "PRO2-XS", "size": 3},
     {"name": "burst", "nodeType": "POP2-4C-16G", "autoscaling": {"min": 1, "max": "5"},
      "autohealing": false, "rootVolumeSizeGb": 40, "zone": "fr-par-2", "tags": ["team-shop"]}
   ]}
]`

func TestOneClusterFormIsOneDefaultCluster(t *testing.T) {
	t.Parallel()
	c, err := loadFromRunInfo(t, map[string]string{"kapsule:size": "3", "agent:name": "edge", "gitops:enabled": "false"})
	require.NoError(t, err)
	require.Nil(t, c.Clusters)
	list := c.ClusterList()
	require.Len(t, list, 1)
	cl := list[0]
	assert.Equal(t, DefaultClusterName, cl.Name)
	assert.True(t, cl.IsDefault())
	assert.Equal(t, "edge", cl.AgentName)
	assert.False(t, cl.GitOps)
	assert.Equal(t, []Pool{{Name: DefaultPoolName, NodeType: "PRO2-XXS", Size: 3, Autohealing: true}}, cl.Pools)
	assert.Equal(t, "kapsule:size", cl.PoolKey(0, "size"), "its keys are the one-cluster keys")
	assert.Equal(t, "agent:namespaces", cl.Key("agent.namespaces"))
}

func TestClusterListReadsEveryField(t *testing.T) {
	t.Parallel()
	c, err := loadFromRunInfo(t, map[string]string{ClustersKey: twoClusters})
	require.NoError(t, err)
	require.Len(t, c.Clusters, 2)
	staging, prod := c.Clusters[0], c.Clusters[1]

	d := Defaults()
	assert.Equal(t, "staging", staging.Name)
	assert.Equal(t, "staging", staging.AgentName, "an agent is named after its cluster")
	assert.Equal(t, d.Kapsule.Version, staging.Version)
	assert.Equal(t, d.Kapsule.CNI, staging.CNI)
	assert.Equal(t, d.Agent.Namespaces, staging.Namespaces)
	assert.True(t, staging.GitOps)
	assert.Equal(t, []Pool{{Name: DefaultPoolName, NodeType: d.Kapsule.NodeType, Size: d.Kapsule.Size, Autohealing: true}}, staging.Pools)
	assert.Equal(t, "kapsule:clusters[0].version", staging.Key("version"))

	assert.Equal(t, "production", prod.AgentName)
	assert.Equal(t, "1.35", prod.Version)
	assert.Equal(t, "calico", prod.CNI)
	assert.Equal(t, []string{"51.15.1.0/24"}, prod.APIAllowedCIDRs)
	assert.Equal(t, []string{"gitops-demo", "shop"}, prod.Namespaces)
	assert.False(t, prod.GitOps)
	assert.Equal(t, []Pool{
		{Name: "general", NodeType: "PRO2-XS", Size: 3, Autohealing: true},
		{Name: "burst", NodeType: "POP2-4C-16G", Size: 1, Autoscaling: true, MinSize: 1, MaxSize: 5,
			RootVolumeSizeGB: 40, Zone: "fr-par-2", Tags: []string{"team-shop"}},
	}, prod.Pools, "an autoscaled pool without a size starts at its minimum")
	assert.Equal(t, "kapsule:clusters[1].pools[1].zone", prod.PoolKey(1, "zone"))
	assert.Equal(t, 5, prod.Pools[1].MaxNodes())
	assert.True(t, c.AnyGitOps())
}

func TestClusterListNamesKeyAndFix(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, list string
		extra      map[string]string
		want       [][]string // one error per entry, every fragment in it
	}{
		{"not a list", `{"name": "a"}`, nil, [][]string{{"kapsule:clusters must be a list of clusters", "pulumi config set --path"}}},
		{"empty", `[]`, nil, [][]string{{"kapsule:clusters is empty", "remove kapsule:clusters"}}},
		{"unknown field", `[{"name": "a", "nodetype": "PRO2-XS"}]`, nil, [][]string{{"kapsule:clusters[0].nodetype is not a field", "use one of"}}},
		{"typo in a pool", `[{"name": "a", "pools": [{"name": "p", "nodeTyp": "PRO2-XS"}]}]`, nil, [][]string{{"kapsule:clusters[0].pools[0].nodeTyp", "did you mean nodeType?"}}},
		{"bad types", `[{"name": 3, "pools": [{"name": "p", "size": "two", "autohealing": "yes"}]}]`, nil, [][]string{
			{"kapsule:clusters[0].name must be a string"},
			{"kapsule:clusters[0].pools[0].autohealing must be true or false"},
			{"kapsule:clusters[0].pools[0].size must be a whole number"},
		}},
		{"names", `[{"name": "Staging"}, {"name": "b"}, {"name": "b"}]`, nil, [][]string{
			{"kapsule:clusters[0].name \"Staging\" is not a cluster name"},
			{"kapsule:clusters[2].name \"b\" is also the name of kapsule:clusters[1].name"},
		}},
		{"an agent named like another cluster", `[{"name": "a"}, {"name": "b", "agent": {"name": "a"}}]`, nil, [][]string{
			{"kapsule:clusters[1].agent.name \"a\" is also the agent of kapsule:clusters[0].agent.name"},
		}},
		{"agents share a name", `[{"name": "a", "agent": {"name": "x"}}, {"name": "b", "agent": {"name": "x"}}]`, nil, [][]string{
			{"kapsule:clusters[1].agent.name \"x\" is also the agent of kapsule:clusters[0].agent.name", "GitLab needs one name per agent"},
		}},
		{"pools", `[{"name": "a", "pools": [{"name": "p", "nodeType": "DEV1-S", "size": 0}, {"name": "p", "nodeType": "pro2-xs"}]}]`, nil, [][]string{
			{"kapsule:clusters[0].pools[0].nodeType \"DEV1-S\" has too little memory"},
			{"kapsule:clusters[0].pools[0].size 0 must be at least 1 node"},
			{"kapsule:clusters[0].pools[1].nodeType \"pro2-xs\" must be written \"PRO2-XS\""},
			{"kapsule:clusters[0].pools[1].name \"p\" is also the name of kapsule:clusters[0].pools[0].name"},
		}},
		{"names of the kapsule cluster's parts apart from the others'", `[{"name": "kapsule", "agent": {"namespaces": ["gitops-demo", "prod-web"]}, "pools": [{"name": "prod-big"}]}, {"name": "prod"}]`, nil, [][]string{
			{"kapsule:clusters[0].pools[0].name \"prod-big\" starts with \"prod-\"", "cluster \"prod\"'s (kapsule:clusters[1].name)"},
			{"kapsule:clusters[0].agent.namespaces[1] \"prod-web\" starts with \"prod-\""},
		}},
		{"a cluster named like another and a dash", `[{"name": "shop", "pools": [{"name": "pool"}, {"name": "eu-big"}]}, {"name": "shop-eu"}]`, nil, [][]string{
			{"kapsule:clusters[0].pools[1].name \"eu-big\" starts with \"eu-\", so its resources could share names with cluster \"shop-eu\"'s (kapsule:clusters[1].name)"},
		}},
		{"no pool", `[{"name": "a", "pools": []}]`, nil, [][]string{{"kapsule:clusters[0].pools is empty"}}},
		{"autoscaling", `[{"name": "a", "pools": [{"name": "p", "size": 9, "autoscaling": {"min": 1, "max": 4}}, {"name": "q", "autoscaling": {"min": 3, "max": 0}}]}]`, nil, [][]string{
			{"kapsule:clusters[0].pools[0].size 9 must be from kapsule:clusters[0].pools[0].autoscaling.min to kapsule:clusters[0].pools[0].autoscaling.max (1 to 4)"},
			{"kapsule:clusters[0].pools[1].autoscaling.max 0 must be from 1 to 150"},
		}},
		{"what the Scaleway provider refuses", `[{"name": "a", "pools": [
			{"name": "p", "rootVolumeSizeGb": 15},
			{"name": "q", "size": 0, "autoscaling": {"min": 1, "max": 3}},
			{"name": "r", "autoscaling": {"min": 0, "max": 3}}]}]`, nil, [][]string{
			{"kapsule:clusters[0].pools[0].rootVolumeSizeGb 15 must be from 20 to 10240 GB"},
			{"kapsule:clusters[0].pools[1].size 0 must be at least 1 node: Kapsule refuses a pool that starts empty"},
			{"kapsule:clusters[0].pools[2].autoscaling.min 0 must be from 1 to"},
		}},
		{"every pool tainted", `[{"name": "a", "pools": [{"name": "p", "tags": ["taint=gpu=true:NoSchedule"]}, {"name": "q", "tags": ["team", "taint=x=y:NoExecute"]}]}]`, nil, [][]string{
			{"kapsule:clusters[0] (\"a\") has a taint= tag on every pool", "leave one pool untainted"},
		}},
		{"zone of another region", `[{"name": "a", "pools": [{"name": "p", "zone": "nl-ams-1"}]}]`, nil, [][]string{
			{"kapsule:clusters[0].pools[0].zone \"nl-ams-1\" is not a zone of scaleway:region \"fr-par\"", "fr-par-1, fr-par-2, fr-par-3"},
		}},
		{"cluster values", `[{"name": "a", "version": "latest", "cni": "flannel", "apiAllowedCidrs": ["203.0.113.0/24"], "agent": {"namespaces": ["kube-system"]}}]`, nil, [][]string{
			{"kapsule:clusters[0].version \"latest\" is not a Kubernetes version"},
			{"kapsule:clusters[0].cni \"flannel\" is not a Kapsule CNI"},
			{"kapsule:clusters[0].apiAllowedCidrs[0] \"203.0.113.0/24\" is a documentation range"},
			{"kapsule:clusters[0].agent.namespaces[0] \"kube-system\" belongs to Kubernetes itself", "kapsule:clusters[0].agent.clusterAdmin"},
			{"kapsule:clusters[0].gitops is true but kapsule:clusters[0].agent.namespaces does not list \"gitops-demo\""},
		}},
		{"too many nodes in a cluster", `[{"name": "a", "pools": [{"name": "p", "size": 100}, {"name": "q", "autoscaling": {"min": 1, "max": 60}}]}]`, map[string]string{"network:cidr": "10.0.0.0/22"}, [][]string{
			{"kapsule:clusters[0] (\"a\") has up to 160 nodes in its pools, more than the 150"},
		}},
		{"the network holds every pool at its maximum", `[{"name": "a", "pools": [{"name": "p", "size": 50}]}, {"name": "b", "pools": [{"name": "p", "autoscaling": {"min": 1, "max": 80}}]}]`, nil, [][]string{
			{"network:cidr \"10.0.0.0/24\" is too small", "GitLab and 130 Kapsule nodes (with upgrade surge) need 262", "use a /23 or larger"},
		}},
		{"one-cluster keys beside the list", `[{"name": "a"}]`, map[string]string{"kapsule:nodeType": "PRO2-XS", "agent:name": "x", "gitops:enabled": "false"}, [][]string{
			{"kapsule:nodeType describes the one cluster", "set kapsule:clusters[i].pools[j].nodeType in each cluster instead and remove kapsule:nodeType"},
			{"agent:name describes the one cluster", "kapsule:clusters[i].agent.name"},
			{"gitops:enabled describes the one cluster", "kapsule:clusters[i].gitops"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := map[string]string{ClustersKey: tt.list}
			for k, v := range tt.extra {
				cfg[k] = v
			}
			c, err := loadFromRunInfo(t, cfg)
			require.Error(t, err)
			assert.Nil(t, c, "nothing is returned, so nothing is created")
			problems := strings.Split(err.Error(), "\n")[1:]
			assert.Len(t, problems, len(tt.want), "every problem reported once, and nothing else:\n%s", err)
			for _, fragments := range tt.want {
				assert.True(t, slices.ContainsFunc(problems, func(p string) bool {
					return !slices.ContainsFunc(fragments, func(f string) bool { return !strings.Contains(p, f) })
				}), "no problem mentions all of %q:\n%s", fragments, err)
			}
		})
	}
}

package config

import "fmt"

// DefaultClusterName names the cluster of the one-cluster form (the
// kapsule: and agent: keys): its resources keep the names a one-cluster
// stack always had, so a list that names a cluster "kapsule" takes over that
// stack's cluster unchanged.
const DefaultClusterName = "kapsule"

// DefaultPoolName names the pool of the one-cluster form, and a cluster's
// pool when kapsule:clusters[i].pools is left out.
const DefaultPoolName = "pool"

// ClustersKey is the list form's key: kapsule:clusters.
const ClustersKey = "kapsule:clusters"

// Cluster is one Kapsule cluster with its pools, its agent and its GitOps
// demo. Every cluster joins the stack's one private network, in
// scaleway:region (a private network is regional); its pools may use any
// zone of that region.
type Cluster struct {
	// Name identifies the cluster in the stack (a DNS label): its Scaleway
	// name is "<prefix>-<name>", its agent's name defaults to it.
	Name string
	// Version is a minor ("1.36": Scaleway applies patches) or a full
	// version ("1.36.1": pinned, auto-upgrade off).
	Version string
	// CNI is the cluster's network plugin.
	CNI string
	// Pools are the cluster's node pools; one at least.
	Pools []Pool
	// APIAllowedCIDRs may reach the Kubernetes API besides the gateway.
	// Empty leaves the API open to the internet, with a warning.
	APIAllowedCIDRs []string
	// AgentName is the cluster's agent's name in GitLab, unique in the stack.
	AgentName string
	// Namespaces are where the cluster's agent (and CI jobs using its
	// context) may deploy; it gets a Role in each and nothing cluster-wide.
	Namespaces []string
	// ClusterAdmin binds the cluster's agent to cluster-admin, with a warning.
	ClusterAdmin bool
	// GitOps runs the GitOps demo (Flux syncing nginx) in this cluster.
	GitOps bool

	// index is the cluster's place in kapsule:clusters; -1 in the
	// one-cluster form, whose fields have keys of their own.
	index int
	// agentNamed says AgentName was configured, not the cluster's name:
	// a derived name's problems are the cluster name's.
	agentNamed bool
}

// Pool is one node pool of a cluster; its nodes have no public address.
type Pool struct {
	// Name is unique in its cluster (a DNS label).
	Name string
	// NodeType is the nodes' Instance type, e.g. "PRO2-XXS".
	NodeType string
	// Size is the number of nodes; with autoscaling, the number the pool
	// starts with (Scaleway's autoscaler changes it afterwards).
	Size int
	// Autoscaling lets Scaleway's autoscaler keep the pool between MinSize
	// and MaxSize nodes.
	Autoscaling      bool
	MinSize, MaxSize int
	// Autohealing replaces nodes that stop answering; on by default.
	Autohealing bool
	// RootVolumeSizeGB is the nodes' system volume; 0 leaves Kapsule's default.
	RootVolumeSizeGB int
	// Zone is a zone of scaleway:region; "" is the provider's zone (scaleway:zone).
	Zone string
	// Tags are added to the pool's own (gitlab-kapsule and the prefix).
	Tags []string
}

// MaxNodes is the most nodes the pool may have: its size, or its
// autoscaling maximum.
func (p Pool) MaxNodes() int {
	if p.Autoscaling {
		return max(p.Size, p.MaxSize)
	}
	return p.Size
}

// ClusterList returns the clusters to create: kapsule:clusters, or else the
// one cluster the kapsule:, agent: and gitops:enabled keys describe.
func (c *Config) ClusterList() []Cluster {
	if c.Clusters != nil {
		return c.Clusters
	}
	return []Cluster{{
		Name:    DefaultClusterName,
		Version: c.Kapsule.Version,
		CNI:     c.Kapsule.CNI,
		Pools: []Pool{{
			Name: DefaultPoolName, NodeType: c.Kapsule.NodeType, Size: c.Kapsule.Size, Autohealing: true,
		}},
		APIAllowedCIDRs: c.Kapsule.APIAllowedCIDRs,
		AgentName:       c.Agent.Name,
		Namespaces:      c.Agent.Namespaces,
		ClusterAdmin:    c.Agent.ClusterAdmin,
		GitOps:          c.GitOps.Enabled,
		index:           -1,
		agentNamed:      true,
	}}
}

// AnyGitOps reports whether some cluster runs the GitOps demo.
func (c *Config) AnyGitOps() bool {
	for _, cl := range c.ClusterList() {
		if cl.GitOps {
			return true
		}
	}
	return false
}

// oneClusterKeys are the keys of the one-cluster form's fields, by the
// field's path in a kapsule:clusters item.
var oneClusterKeys = map[string]string{
	"version":            "kapsule:version",
	"cni":                "kapsule:cni",
	"apiAllowedCidrs":    "kapsule:apiAllowedCidrs",
	"pools[0].nodeType":  "kapsule:nodeType",
	"pools[0].size":      "kapsule:size",
	"agent.name":         "agent:name",
	"agent.namespaces":   "agent:namespaces",
	"agent.clusterAdmin": "agent:clusterAdmin",
	"gitops":             "gitops:enabled",
}

// Key names where a field of the cluster is configured, for messages:
// "kapsule:clusters[1].version", or "kapsule:version" in the one-cluster form.
func (cl Cluster) Key(field string) string {
	if cl.index < 0 {
		if k, ok := oneClusterKeys[field]; ok {
			return k
		}
	}
	return fmt.Sprintf("%s[%d].%s", ClustersKey, max(cl.index, 0), field)
}

// PoolKey names where a field of the cluster's i-th pool is configured.
func (cl Cluster) PoolKey(i int, field string) string {
	return cl.Key(fmt.Sprintf("pools[%d].%s", i, field))
}

// IsDefault reports whether this is the cluster that keeps the one-cluster
// stack's resource names.
func (cl Cluster) IsDefault() bool { return cl.Name == DefaultClusterName }

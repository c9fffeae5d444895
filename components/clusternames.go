package components

import "github.com/gitlab-kapsule/gitlab-kapsule/config"

// ClusterResourceName is what base becomes for a cluster's own resources:
// base itself for the cluster named config.DefaultClusterName (or ""), so a
// one-cluster stack keeps every name it had, and "<base>-<cluster>" for the
// others ("kapsule-prod", "agent-prod-token").
func ClusterResourceName(base, cluster string) string {
	if isDefaultCluster(cluster) {
		return base
	}
	return base + "-" + cluster
}

// isDefaultCluster reports whether cluster is the one-cluster stack's
// (config.DefaultClusterName, or unnamed), whose resources keep their names.
func isDefaultCluster(cluster string) bool {
	return cluster == "" || cluster == config.DefaultClusterName
}

// KapsuleClusterName is a cluster's Scaleway name, "<prefix>-<cluster>"
// ("glk-dev-kapsule" for the one-cluster stack's): the preflight finds the
// live cluster by it.
func KapsuleClusterName(prefix, cluster string) string {
	if cluster == "" {
		cluster = config.DefaultClusterName
	}
	return prefix + "-" + cluster
}

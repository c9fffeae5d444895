package stack

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// ClusterNames lists the clusters a stack's outputs describe, sorted: the
// names under Clusters, or config.DefaultClusterName for a one-cluster stack.
func ClusterNames(outs auto.OutputMap) []string {
	byName, ok := outs[string(Clusters)].Value.(map[string]any)
	if !ok {
		return []string{config.DefaultClusterName}
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// ForCluster returns the outputs as a one-cluster stack has them: the
// shared ones, and one cluster's PerCluster outputs at the top level under
// their usual names, so that whoever reads a kubeconfig or an agent's name
// reads it the same way from either form. cluster "" means the only
// cluster; a name the stack does not have is an error that lists its names.
func ForCluster(outs auto.OutputMap, cluster string) (auto.OutputMap, error) {
	names := ClusterNames(outs)
	if cluster == "" {
		if len(names) > 1 {
			return nil, fmt.Errorf("the stack has %d clusters (%s): name one with --cluster", len(names), strings.Join(names, ", "))
		}
		cluster = names[0]
	}
	if !slices.Contains(names, cluster) {
		return nil, fmt.Errorf("the stack has no cluster %q: its clusters are %s", cluster, strings.Join(names, ", "))
	}
	byName, listForm := outs[string(Clusters)].Value.(map[string]any)
	if !listForm {
		return outs, nil
	}
	flat := auto.OutputMap{}
	for name, v := range outs {
		if name != string(Clusters) && name != string(Kubeconfigs) {
			flat[name] = v
		}
	}
	own, _ := byName[cluster].(map[string]any)
	for name, v := range own {
		flat[name] = auto.OutputValue{Value: v, Secret: outs[string(Clusters)].Secret}
	}
	if kcs, ok := outs[string(Kubeconfigs)].Value.(map[string]any); ok {
		if kc, ok := kcs[cluster]; ok {
			flat[string(Kubeconfig)] = auto.OutputValue{Value: kc, Secret: true}
		}
	}
	return flat, nil
}

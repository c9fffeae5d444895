package sim

import (
	"fmt"
	"strings"
)

// ClusterCounts are the numbers of clusters the figures compare with the
// one-cluster stack.
var ClusterCounts = []int{1, 2, 4}

// ClusterConfig is a stack configuration with n clusters of default shape
// (kapsule:clusters, named c1 … cn), for comparing makespans by count.
func ClusterConfig(n int) map[string]string {
	items := make([]string, n)
	for i := range n {
		items[i] = fmt.Sprintf(`{"name": "c%d"}`, i+1)
	}
	return map[string]string{"kapsule:clusters": "[" + strings.Join(items, ", ") + "]"}
}

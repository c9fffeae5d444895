package preflight

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	k8s "github.com/scaleway/scaleway-sdk-go/api/k8s/v1"
)

// clusterNames are the distinct non-empty names of clusters, in order.
func clusterNames(clusters []Cluster) []string {
	var names []string
	for _, c := range clusters {
		if c.Name != "" && !slices.Contains(names, c.Name) {
			names = append(names, c.Name)
		}
	}
	return names
}

// commonPrefix is the longest prefix of every name, in whole characters:
// the API filters clusters by a substring of their name, so one listing
// with it finds them all.
func commonPrefix(names []string) string {
	if len(names) == 0 {
		return ""
	}
	p := names[0]
	for _, n := range names[1:] {
		i := 0
		for i < len(p) && i < len(n) && p[i] == n[i] {
			i++
		}
		p = p[:i]
	}
	for !utf8.ValidString(p) {
		p = p[:len(p)-1]
	}
	return p
}

// lookingFor says what the cluster listing asks, for its error.
func lookingFor(names []string, region string) string {
	if len(names) == 1 {
		return fmt.Sprintf("looking for Kapsule cluster %q in %s", names[0], region)
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return fmt.Sprintf("looking for Kapsule clusters %s in %s", strings.Join(quoted, ", "), region)
}

// sharedNames are the problems of clusters given one name: which live
// cluster is whose, and Result.KapsuleVersions, would be ambiguous.
func sharedNames(clusters []Cluster) []error {
	var errs []error
	for i, c := range clusters {
		if j := slices.IndexFunc(clusters[:i], func(d Cluster) bool { return d.Name == c.Name }); j >= 0 {
			errs = append(errs, fmt.Errorf("%s and %s are the versions of two Kapsule clusters named %q: give each cluster its own name",
				clusters[j].VersionKey, c.VersionKey, c.Name))
		}
	}
	return errs
}

// liveCluster picks the stack's cluster named name among those listed (the
// API's filter is a substring): the exact name, not being deleted. Several
// with that name: the newest version, with a warning naming key, the
// cluster's version key.
func liveCluster(clusters []*k8s.Cluster, name, key string) (*k8s.Cluster, []string) {
	var found []*k8s.Cluster
	for _, c := range clusters {
		if c == nil || c.Name != name || c.Status == k8s.ClusterStatusDeleting || c.Status == k8s.ClusterStatusDeleted {
			continue
		}
		found = append(found, c)
	}
	if len(found) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(found, func(a, b *k8s.Cluster) int {
		va, _ := parseKubeVersion(a.Version)
		vb, _ := parseKubeVersion(b.Version)
		return compareFull(vb, va)
	})
	var warnings []string
	if len(found) > 1 {
		ids := make([]string, len(found))
		for i, c := range found {
			ids[i] = c.ID
		}
		warnings = append(warnings, fmt.Sprintf("%d Kapsule clusters are named %q (%s): judging %s against the newest, %s; delete the ones this stack does not manage",
			len(found), name, strings.Join(ids, ", "), key, found[0].Version))
	}
	return found[0], warnings
}

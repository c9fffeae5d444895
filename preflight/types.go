package preflight

import (
	"fmt"
	"github.com/agext/levenshtein"
	"maps"
	"slices"
	"strings"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	marketplace "github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
)

// normalType compares commercial types as the Terraform provider under the
// Pulumi one compares Kapsule node types: ignoring case, with '-' and '_'
// alike (dsf.IgnoreCaseAndHyphen on node_type, terraform-provider-scaleway
// internal/services/k8s/pool.go).
func normalType(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
}

// suggestions is how many valid values a message lists.
const suggestions = 6

// findType returns the zone's commercial type that name means, or a problem
// naming key and a few types of the zone, nearest first.
func findType(key, name, zone string, types map[string]*instance.ServerType) (string, *instance.ServerType, error) {
	for _, t := range slices.Sorted(maps.Keys(types)) {
		if normalType(t) == normalType(name) {
			return t, types[t], nil
		}
	}
	var valid []string
	for t, st := range types {
		if st == nil || !st.EndOfService {
			valid = append(valid, t)
		}
	}
	more := ""
	if len(valid) > suggestions {
		more = fmt.Sprintf(" (or another of the %d listed by `scw instance server-type list zone=%s`)", len(valid), zone)
	}
	return "", nil, fmt.Errorf("%s %q is not an instance type in %s: set it to one of %s%s",
		key, name, zone, strings.Join(nearest(name, valid, suggestions), ", "), more)
}

// checkImage judges the local images of gitlabHost:image for the instance
// type (the zone's spelling of it, "" when unknown).
func checkImage(label, zone, instanceType string, images []*marketplace.LocalImage) error {
	if len(images) == 0 {
		return fmt.Errorf("gitlabHost:image %q is not a marketplace image label in %s (for an SBS root volume): set it to a label listed by `scw marketplace image list`, such as an Ubuntu release's (ubuntu_<codename>)", label, zone)
	}
	if instanceType == "" {
		return nil
	}
	var compatible []string
	for _, img := range images {
		if img == nil {
			continue
		}
		for _, t := range img.CompatibleCommercialTypes {
			if normalType(t) == normalType(instanceType) {
				return nil
			}
		}
		compatible = append(compatible, img.CompatibleCommercialTypes...)
	}
	slices.Sort(compatible)
	compatible = slices.Compact(compatible)
	return fmt.Errorf("gitlabHost:image %q has no image in %s for gitlabHost:instanceType %q: set gitlabHost:image to a label with one for that type, or gitlabHost:instanceType to one of %s",
		label, zone, instanceType, strings.Join(nearest(instanceType, compatible, suggestions), ", "))
}

// nearest returns up to n candidates closest to word (case, '-' and '_'
// ignored), nearest first, ties in name order.
func nearest(word string, candidates []string, n int) []string {
	c := slices.Clone(candidates)
	w := normalType(word)
	d := make(map[string]int, len(c))
	for _, s := range c {
		d[s] = distance(w, normalType(s))
	}
	slices.SortFunc(c, func(a, b string) int {
		if d[a] != d[b] {
			return d[a] - d[b]
		}
		return strings.Compare(a, b)
	})
	if len(c) > n {
		c = c[:n]
	}
	return c
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int { return levenshtein.Distance(a, b, nil) }

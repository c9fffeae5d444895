package preflight

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/agext/levenshtein"
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

// instanceTypeKey is the GitLab host's instance type, checked in Input.Zone.
const instanceTypeKey = "gitlabHost:instanceType"

// typeCheck is one instance type to find: its key, name and zone.
type typeCheck struct{ key, name, zone string }

// typesToFind are in's node types, each in its pool's zone, then the
// GitLab host's instance type; empty names are skipped.
func typesToFind(in Input) []typeCheck {
	var out []typeCheck
	for _, t := range in.NodeTypes {
		if t.Name == "" {
			continue
		}
		out = append(out, typeCheck{key: t.Key, name: t.Name, zone: cmp.Or(t.Zone, in.Zone)})
	}
	if in.InstanceType != "" {
		out = append(out, typeCheck{key: instanceTypeKey, name: in.InstanceType, zone: in.Zone})
	}
	return out
}

// zoneTypes are the instance types of one zone, listed once for every type
// checked there.
type zoneTypes struct {
	q     *question
	types map[string]*instance.ServerType
}

// zoneSource names where zone comes from, for the listing's error:
// scaleway:zone, or the keys of the types checked in it.
func zoneSource(zone, scalewayZone string, wanted []typeCheck) string {
	if zone == scalewayZone {
		return KeyZone
	}
	var keys []string
	for _, t := range wanted {
		if t.zone == zone {
			keys = append(keys, t.key)
		}
	}
	return "the zone of " + strings.Join(keys, ", ")
}

// findType returns the zone's commercial type that t means and warnings
// (another spelling, end of service), or a problem naming t's key and a few
// types of the zone, nearest first.
func findType(t typeCheck, types map[string]*instance.ServerType) (string, []string, error) {
	for _, name := range slices.Sorted(maps.Keys(types)) {
		if normalType(name) != normalType(t.name) {
			continue
		}
		var warnings []string
		if name != t.name {
			warnings = append(warnings, fmt.Sprintf("%s %q is spelled %q by Scaleway: set it so", t.key, t.name, name))
		}
		if st := types[name]; st != nil && st.EndOfService {
			warnings = append(warnings, fmt.Sprintf("%s %q has reached end of service in %s, so Scaleway may refuse new instances of it: set %s to a current type", t.key, name, t.zone, t.key))
		}
		return name, warnings, nil
	}
	var valid []string
	for name, st := range types {
		if st == nil || !st.EndOfService {
			valid = append(valid, name)
		}
	}
	more := ""
	if len(valid) > suggestions {
		more = fmt.Sprintf(" (or another of the %d listed by `scw instance server-type list zone=%s`)", len(valid), t.zone)
	}
	return "", nil, fmt.Errorf("%s %q is not an instance type in %s: set it to one of %s%s",
		t.key, t.name, t.zone, strings.Join(nearest(t.name, valid, suggestions), ", "), more)
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

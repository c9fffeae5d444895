package preflight

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	k8s "github.com/scaleway/scaleway-sdk-go/api/k8s/v1"
)

// kubeVersion is "x.y" (a minor: Scaleway applies its patches) or "x.y.z".
type kubeVersion struct {
	major, minor, patch int
	full                bool // the patch was given
}

func parseKubeVersion(s string) (kubeVersion, bool) {
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".")
	if len(parts) < 2 || len(parts) > 3 {
		return kubeVersion{}, false
	}
	n := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || (len(p) > 1 && p[0] == '0') {
			return kubeVersion{}, false
		}
		n[i] = v
	}
	v := kubeVersion{major: n[0], minor: n[1], full: len(n) == 3}
	if v.full {
		v.patch = n[2]
	}
	return v, true
}

func (v kubeVersion) String() string {
	if v.full {
		return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
	}
	return v.minorString()
}

func (v kubeVersion) minorString() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// compareMinor orders by major then minor only.
func compareMinor(a, b kubeVersion) int {
	return cmp.Or(cmp.Compare(a.major, b.major), cmp.Compare(a.minor, b.minor))
}

// compareFull orders full versions.
func compareFull(a, b kubeVersion) int {
	return cmp.Or(compareMinor(a, b), cmp.Compare(a.patch, b.patch))
}

// minorsAhead is how many minors a is ahead of b; a major ahead counts as
// more than any upgrade can take at once.
func minorsAhead(a, b kubeVersion) int {
	if a.major != b.major {
		if a.major > b.major {
			return 1 << 10
		}
		return -(1 << 10)
	}
	return a.minor - b.minor
}

// offeredVersions are the versions Kapsule offers for new clusters and
// upgrades in the region, newest first: those ListVersions returns, less any
// past its deprecation date ("date from which this version will no longer be
// available for provisioning", k8s.Version.DeprecatedAt). Scaleway offers the
// latest patch of each supported minor (docs-content
// pages/kubernetes/reference-content/version-support-policy.mdx).
func offeredVersions(versions []*k8s.Version, now time.Time) []kubeVersion {
	var out []kubeVersion
	for _, v := range versions {
		if v == nil || (v.DeprecatedAt != nil && !v.DeprecatedAt.After(now)) {
			continue
		}
		if kv, ok := parseKubeVersion(v.Name); ok && kv.full {
			out = append(out, kv)
		}
	}
	slices.SortFunc(out, func(a, b kubeVersion) int { return compareFull(b, a) })
	return slices.CompactFunc(out, func(a, b kubeVersion) bool { return compareFull(a, b) == 0 })
}

// offers reports whether want is offered: the very version for a full one,
// any patch of the minor for a minor; it returns the offered match.
func offers(offered []kubeVersion, want kubeVersion) (kubeVersion, bool) {
	for _, o := range offered {
		if compareMinor(o, want) == 0 && (!want.full || o.patch == want.patch) {
			return o, true
		}
	}
	return kubeVersion{}, false
}

func joinVersions(vs []kubeVersion) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, ", ")
}

// versionCheck is what checkVersion needs: the configured version, the
// offered ones, and the stack's live cluster, if any.
type versionCheck struct {
	configured  string
	key         string // the configured version's key, e.g. "kapsule:version"
	region      string
	clusterName string
	offered     []kubeVersion
	live        *k8s.Cluster // nil: the cluster is to be created
}

// checkVersion returns the version to use, warnings and problems.
//
// Without a live cluster the configured version must be offered for new
// clusters. With one, Scaleway may have upgraded it past the configured
// version (at end of support) and downgrades are impossible
// (docs-content pages/kubernetes/how-to/upgrade-kubernetes-version.mdx):
// the live version is adopted, with a warning. A configured version ahead of
// the live one is an upgrade: it must be offered, and at most one minor ahead,
// since Kapsule upgrades one minor at a time.
func checkVersion(c versionCheck) (string, []string, []error) {
	want, ok := parseKubeVersion(c.configured)
	if !ok {
		return c.configured, nil, []error{fmt.Errorf(`%s %q is not a Kubernetes version: set it to a minor such as "1.36" (Scaleway applies patches) or a full version such as "1.36.1"`, c.key, c.configured)}
	}
	if c.live == nil {
		if _, ok := offers(c.offered, want); !ok {
			head := fmt.Sprintf("%s %q is not offered for new clusters in %s", c.key, c.configured, c.region)
			return c.configured, nil, []error{notOffered(head, c.key, want, c.offered)}
		}
		return c.configured, nil, nil
	}

	live, ok := parseKubeVersion(c.live.Version)
	if !ok || !live.full {
		return c.configured, []string{fmt.Sprintf("Kapsule cluster %q reports version %q, which is not x.y.z: %s %q is used unchecked", c.clusterName, c.live.Version, c.key, c.configured)}, nil
	}
	// The live version in the configured form.
	adopt := live
	if !want.full {
		adopt = kubeVersion{major: live.major, minor: live.minor}
	}
	behind := compareMinor(want, live) < 0 || (want.full && compareFull(want, live) < 0)
	switch {
	case behind:
		return adopt.String(), []string{fmt.Sprintf(
			"%s is %q but Kapsule cluster %q already runs %s (Scaleway upgrades clusters at the end of a version's support, and downgrades are impossible): using %q; set %s to %q",
			c.key, c.configured, c.clusterName, live, adopt, c.key, adopt)}, nil
	case compareMinor(want, live) == 0 && (!want.full || want.patch == live.patch):
		return c.configured, nil, nil
	}

	// An upgrade.
	if ahead := minorsAhead(want, live); ahead > 1 {
		next := kubeVersion{major: live.major, minor: live.minor + 1}
		step := next.minorString()
		if o, ok := offers(c.offered, next); ok && want.full {
			step = o.String()
		}
		return c.configured, nil, []error{fmt.Errorf(
			"%s %q is more than one minor ahead of Kapsule cluster %q, which runs %s, and Kapsule upgrades one minor at a time: set %s to %q, run up, then go on one minor at a time",
			c.key, c.configured, c.clusterName, live, c.key, step)}
	}
	if _, ok := offers(c.offered, want); !ok {
		head := fmt.Sprintf("%s %q is not offered in %s as an upgrade of Kapsule cluster %q, which runs %s", c.key, c.configured, c.region, c.clusterName, live)
		return c.configured, nil, []error{notOffered(head, c.key, want, c.offered)}
	}
	return c.configured, nil, nil
}

// notOffered says that want is not offered and what to set instead: the
// offered patch of the same minor, else the newest offered minor, as key.
func notOffered(head, key string, want kubeVersion, offered []kubeVersion) error {
	if len(offered) == 0 {
		return fmt.Errorf("%s: Kapsule offers no version there: set scaleway:region to a region with Kapsule", head)
	}
	fix := fmt.Sprintf(`set %s to %q (a minor: Scaleway applies patches)`, key, offered[0].minorString())
	if o, ok := offers(offered, kubeVersion{major: want.major, minor: want.minor}); ok && want.full {
		fix = fmt.Sprintf(`Scaleway offers only the latest patch of a minor: set %s to %q, or to %q (a minor: Scaleway applies patches)`, key, o, o.minorString())
	}
	return fmt.Errorf("%s: offered are %s: %s", head, joinVersions(offered), fix)
}

package upgradepath

import "slices"

// release is a GitLab major.minor release.
type release struct{ major, minor int }

func (m release) less(o release) bool {
	return m.major < o.major || (m.major == o.major && m.minor < o.minor)
}

// listedStops are the required upgrade stops every Omnibus installation must
// make, oldest first. Sources, each read for this list:
//
//   - GitLab docs doc/update/upgrade_paths.md "Plan your upgrade path"
//     (gitlabhq/gitlabhq at 017a6c129d6a9e4ad9fec792cd84f88641d7dbfe, and
//     https://docs.gitlab.com/update/upgrade_paths/ as served in 2026): the
//     GitLab 15, 16 and 17 tables (17.3.7, 17.5.5, 17.8.7, 17.11.7 for 17;
//     16.3, 16.7, 16.11 for 16; 15.0, 15.4, 15.11 for 15), and "In GitLab
//     17.5 and later ... required upgrade stops occur at versions x.2.z,
//     x.5.z, x.8.z, and x.11.z".
//   - GitLab docs doc/update/versions/gitlab_18_changes.md "Required upgrade
//     stops" (gitlabhq/gitlabhq at 2d6d521179e81a7544aa7e6af7e86588cacd3848):
//     18.2, 18.5, 18.8, 18.11.
//   - omnibus-gitlab config/templates/package-scripts/preinst.erb,
//     upgrade_check's MIN_VERSION (history up to commit
//     440b1f835eb205885d22933ac074cc11c1148609, 2026-08-21): the package
//     refuses to install unless the installed minor is at least MIN_VERSION,
//     which was 17.3 from 17.4.0, 17.5 from 17.6.0, 17.8 from 17.9.0, 17.11
//     from 18.0.0, 18.2 from 18.3.0, 18.5 from 18.6.0, 18.8 from 18.9.0, 18.11
//     from 19.0.0 and 19.2 from 19.3.0.
//
// Left out on purpose: the stops GitLab requires "only for instances with"
// particular data (15.1 with several web nodes; 16.0, 16.1, 16.2 and 17.1
// with large tables or NPM packages), which the package does not enforce
// and a stack this program creates (17.0 or later, one node) does not have.
var listedStops = []release{
	{15, 0}, {15, 4}, {15, 11},
	{16, 3}, {16, 7}, {16, 11},
	{17, 3}, {17, 5}, {17, 8}, {17, 11},
	{18, 2}, {18, 5}, {18, 8}, {18, 11},
	{19, 2},
}

// scheduledMinors are the minors of GitLab's predictable schedule, which
// applies to releases newer than the listed stops (docs "In GitLab 17.5 and
// later").
var scheduledMinors = []int{2, 5, 8, 11}

// stopsBetween returns the required stops strictly after from and strictly
// before to, oldest first: the ones an upgrade from from to to would skip.
func stopsBetween(from, to release) []release {
	var out []release
	for _, s := range listedStops {
		if from.less(s) && s.less(to) {
			out = append(out, s)
		}
	}
	last := listedStops[len(listedStops)-1]
	for major := last.major; major <= to.major; major++ {
		for _, m := range scheduledMinors {
			s := release{major, m}
			if last.less(s) && from.less(s) && s.less(to) {
				out = append(out, s)
			}
		}
	}
	return out
}

// nextStop returns the first required stop after from.
func nextStop(from release) release {
	if i := slices.IndexFunc(listedStops, from.less); i >= 0 {
		return listedStops[i]
	}
	last := listedStops[len(listedStops)-1]
	for major := max(from.major, last.major); ; major++ {
		for _, m := range scheduledMinors {
			if s := (release{major, m}); from.less(s) && last.less(s) {
				return s
			}
		}
	}
}

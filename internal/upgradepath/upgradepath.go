package upgradepath

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Key is the configuration key whose value Check judges, named in its advice.
const Key = "gitlabHost:version"

// version is an Omnibus package version: "18.5.2-ce.0" as apt writes it, or
// "18.5.2+ce.0" as omnibus-gitlab tags it.
type version struct {
	release
	patch, iteration int
	edition          string
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)[-+](ce|ee)\.(\d+)$`)

func parse(s string) (version, error) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return version{}, fmt.Errorf("%q is not an Omnibus package version such as \"18.5.2-ce.0\"", s)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	return version{release: release{n(1), n(2)}, patch: n(3), edition: m[4], iteration: n(5)}, nil
}

func compare(a, b version) int {
	return cmp.Or(cmp.Compare(a.major, b.major), cmp.Compare(a.minor, b.minor),
		cmp.Compare(a.patch, b.patch), cmp.Compare(a.iteration, b.iteration))
}

func (m release) String() string { return fmt.Sprintf("%d.%d", m.major, m.minor) }

// CrossingError is Check's refusal of an upgrade that skips required stops.
type CrossingError struct {
	// From and To are the installed and the wanted package versions.
	From, To string
	// Stops are the skipped stops in order, "major.minor".
	Stops []string
	// Edition is the wanted package's edition, "ce" or "ee".
	Edition string
}

// Error names the stops and the versions to set, one up each.
func (e *CrossingError) Error() string {
	steps := make([]string, len(e.Stops))
	for i, s := range e.Stops {
		steps[i] = fmt.Sprintf("%s.x-%s.0", s, e.Edition)
	}
	var then strings.Builder
	for _, s := range steps[1:] {
		fmt.Fprintf(&then, "then %s, run up, ", s)
	}
	return fmt.Sprintf("%s %s → %s skips GitLab's required upgrade stop%s %s (GitLab docs update/upgrade_paths.md; the package itself refuses to install past a stop): "+
		"set %s to %s, the latest patch of %s (`apt-cache madison gitlab-%s` on the host lists them, as does https://packages.gitlab.com/app/gitlab/gitlab-%s/search?q=%s), run up, "+
		"%sthen %s",
		Key, e.From, e.To, plural(len(e.Stops)), strings.Join(e.Stops, ", "),
		Key, steps[0], e.Stops[0], e.Edition, e.Edition, e.Stops[0], then.String(), e.To)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Check refuses changing the installed Omnibus package version from to to
// when GitLab does not support that step:
//   - from "" is a fresh install: any version;
//   - the same version is no change;
//   - an older version is a downgrade, which GitLab does not do in place
//     (docs doc/update/package/downgrade.md "Roll back to earlier GitLab
//     versions", gitlabhq/gitlabhq at 986ab04856ab: remove the package,
//     install the older one, reconfigure and restore a backup made by that
//     exact version and edition);
//   - a version past the next required stop after from skips it: the error
//     (a *CrossingError) names every skipped stop in order and the version
//     to set next.
//
// Leaving a stop from an older patch of it is allowed, as the package allows
// it; GitLab asks for the latest patch of each stop, which the advice says.
func Check(from, to string) error {
	if strings.TrimSpace(from) == "" {
		return nil
	}
	f, err := parse(from)
	if err != nil {
		return fmt.Errorf("installed GitLab version: %w", err)
	}
	t, err := parse(to)
	if err != nil {
		return fmt.Errorf("%s: %w", Key, err)
	}
	switch c := compare(t, f); {
	case c == 0:
		return nil
	case c < 0:
		return fmt.Errorf("%s %s is older than the installed %s, and GitLab cannot be downgraded in place "+
			"(GitLab docs update/package/downgrade.md: a rollback takes the older package and a restore of a backup made by that exact version): set %s back to %s",
			Key, to, from, Key, from)
	}
	skipped := stopsBetween(f.release, t.release)
	if len(skipped) == 0 {
		return nil
	}
	e := &CrossingError{From: from, To: to, Edition: t.edition}
	for _, s := range skipped {
		e.Stops = append(e.Stops, s.String())
	}
	return e
}

// NextStop returns the first required upgrade stop after the package version
// from, as "major.minor" (from at a stop gives the one after it), or "" when
// from is not a package version.
func NextStop(from string) string {
	f, err := parse(from)
	if err != nil {
		return ""
	}
	return nextStop(f.release).String()
}

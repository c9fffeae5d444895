package upgradepath

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, from, to string
		// stops are the skipped stops a *CrossingError must name, in order;
		// nil with no err means the change is allowed.
		stops []string
		// err are fragments of any other refusal.
		err []string
	}{
		{name: "fresh install of any version", from: "", to: "19.4.1-ce.0"},
		{name: "no change", from: "18.5.2-ce.0", to: "18.5.2-ce.0"},
		{name: "patch upgrade", from: "18.5.2-ce.0", to: "18.5.7-ce.0"},
		{name: "up to the next stop", from: "18.5.2-ce.0", to: "18.8.11-ce.0"},
		{name: "leaving a stop for the release before the next one", from: "18.5.7-ce.0", to: "18.7.3-ce.0"},
		{name: "between two stops", from: "18.3.1-ce.0", to: "18.5.0-ce.0"},
		{name: "the package's own tag form", from: "18.5.2+ce.0", to: "18.8.1+ce.0"},
		{name: "a newer package iteration", from: "18.5.2-ce.0", to: "18.5.2-ce.1"},
		{name: "edition change at the same version", from: "18.5.2-ce.0", to: "18.5.2-ee.0"},
		{name: "last 17 stop to 18", from: "17.11.7-ce.0", to: "18.2.8-ce.0"},
		{name: "one stop skipped", from: "18.5.2-ce.0", to: "18.9.0-ce.0", stops: []string{"18.8"}},
		{name: "several stops skipped, across a major", from: "18.5.2-ce.0", to: "19.4.0-ce.0", stops: []string{"18.8", "18.11", "19.2"}},
		{name: "from an early patch of 17", from: "17.0.1-ee.0", to: "17.9.2-ee.0", stops: []string{"17.3", "17.5", "17.8"}},
		{name: "major without its last stop", from: "17.10.1-ce.0", to: "18.0.0-ce.0", stops: []string{"17.11"}},
		{name: "scheduled stops past the listed ones", from: "19.2.3-ce.0", to: "20.3.0-ce.0", stops: []string{"19.5", "19.8", "19.11", "20.2"}},
		{name: "patch downgrade", from: "18.5.3-ce.0", to: "18.5.2-ce.0", err: []string{"gitlabHost:version 18.5.2-ce.0 is older than the installed 18.5.3-ce.0", "set gitlabHost:version back to 18.5.3-ce.0"}},
		{name: "minor downgrade", from: "18.8.1-ce.0", to: "18.5.2-ce.0", err: []string{"cannot be downgraded"}},
		{name: "unreadable target", from: "18.5.2-ce.0", to: "18.5", err: []string{`gitlabHost:version: "18.5" is not an Omnibus package version`}},
		{name: "unreadable installed version", from: "latest", to: "18.5.2-ce.0", err: []string{`installed GitLab version: "latest"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Check(tc.from, tc.to)
			switch {
			case tc.stops != nil:
				var ce *CrossingError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, tc.stops, ce.Stops)
			case tc.err != nil:
				require.Error(t, err)
				assert.False(t, errors.As(err, new(*CrossingError)), "not a crossing: %v", err)
				for _, frag := range tc.err {
					assert.ErrorContains(t, err, frag)
				}
			default:
				assert.NoError(t, err)
			}
		})
	}
}

// TestCrossingAdvice checks the words an operator acts on: every stop in
// order, the first version to set, and the target last.
func TestCrossingAdvice(t *testing.T) {
	t.Parallel()
	err := Check("18.5.2-ce.0", "19.4.0-ce.0")
	require.Error(t, err)
	assert.EqualError(t, err, "gitlabHost:version 18.5.2-ce.0 → 19.4.0-ce.0 skips GitLab's required upgrade stops 18.8, 18.11, 19.2 "+
		"(GitLab docs update/upgrade_paths.md; the package itself refuses to install past a stop): "+
		"set gitlabHost:version to 18.8.x-ce.0, the latest patch of 18.8 (`apt-cache madison gitlab-ce` on the host lists them, "+
		"as does https://packages.gitlab.com/app/gitlab/gitlab-ce/search?q=18.8), run up, "+
		"then 18.11.x-ce.0, run up, then 19.2.x-ce.0, run up, then 19.4.0-ce.0")
	// One stop: no "then" before the target but the one.
	assert.ErrorContains(t, Check("18.5.2-ce.0", "18.9.0-ce.0"), "stop 18.8 (GitLab docs")
	assert.ErrorContains(t, Check("18.5.2-ce.0", "18.9.0-ce.0"), "q=18.8), run up, then 18.9.0-ce.0")
}

func TestNextStop(t *testing.T) {
	t.Parallel()
	for from, want := range map[string]string{
		"17.0.1-ce.0":  "17.3",
		"17.3.7-ce.0":  "17.5", // at a stop: the one after it
		"17.11.7-ee.0": "18.2",
		"18.5.2-ce.0":  "18.8",
		"18.6.0-ce.0":  "18.8",
		"18.11.1-ce.0": "19.2",
		"19.2.0-ce.0":  "19.5", // the schedule, past the listed stops
		"19.11.0-ce.0": "20.2",
		"16.8.1-ce.0":  "16.11",
		"18.5":         "",
	} {
		assert.Equal(t, want, NextStop(from), "NextStop(%q)", from)
	}
}

// TestListedStopsFollowTheSchedule guards the table against a typo: from
// 17.5 on, every listed stop is on GitLab's schedule, and the list is in
// order.
func TestListedStopsFollowTheSchedule(t *testing.T) {
	t.Parallel()
	for i, s := range listedStops {
		if i > 0 {
			assert.True(t, listedStops[i-1].less(s), "%v after %v", s, listedStops[i-1])
		}
		if !s.less(release{17, 5}) {
			assert.Contains(t, scheduledMinors, s.minor, "stop %v", s)
		}
	}
}

package sim_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/bench/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const s = time.Second

// custom is a custom resource whose URN is its name and whose type is "t:"+name.
func custom(name string, deps ...string) sim.Resource {
	return sim.Resource{URN: name, Type: "t:" + name, Name: name, Custom: true, Dependencies: deps}
}

func component(name string, deps ...string) sim.Resource {
	r := custom(name, deps...)
	r.Custom, r.Type = false, "c:"+name
	return r
}

func child(r sim.Resource, parent string) sim.Resource {
	r.Parent = parent
	return r
}

// model gives each resource its latency by name; no requirement rows, so
// every type is unaudited and the ideal equals the recorded graph.
func model(lat map[string]time.Duration, reqs ...sim.Requirement) sim.Model {
	return sim.Model{Latencies: sim.Latencies{ByName: lat}, Requirements: reqs}
}

func names(path []sim.Slot) []string {
	out := make([]string, len(path))
	for i, p := range path {
		out[i] = p.Name
	}
	return out
}

func slot(t *testing.T, r *sim.Report, name string) sim.Slot {
	t.Helper()
	for _, s := range r.Schedule {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s not in the schedule", name)
	return sim.Slot{}
}

func TestChainAddsUp(t *testing.T) {
	t.Parallel()
	rep, err := model(map[string]time.Duration{"a": 1 * s, "b": 2 * s, "c": 3 * s}).
		Simulate([]sim.Resource{custom("a"), custom("b", "a"), custom("c", "b")})
	require.NoError(t, err)
	assert.Equal(t, 6*s, rep.Makespan)
	assert.Equal(t, 6*s, rep.Ideal)
	assert.Equal(t, []string{"a", "b", "c"}, names(rep.CriticalPath))
	assert.Equal(t, 3*s, slot(t, rep, "c").Start)
}

func TestDiamondTakesTheLongerBranch(t *testing.T) {
	t.Parallel()
	rep, err := model(map[string]time.Duration{"a": 1 * s, "b": 5 * s, "c": 2 * s, "d": 1 * s}).
		Simulate([]sim.Resource{custom("a"), custom("b", "a"), custom("c", "a"), custom("d", "b", "c")})
	require.NoError(t, err)
	assert.Equal(t, 7*s, rep.Makespan)
	assert.Equal(t, []string{"a", "b", "d"}, names(rep.CriticalPath))
	assert.Equal(t, 1*s, slot(t, rep, "c").Start, "c runs beside b")
	assert.InDelta(t, 1.0, rep.Ratio(), 1e-9)
}

func TestWaitingForAComponentWaitsForAllItsChildren(t *testing.T) {
	t.Parallel()
	rs := []sim.Resource{
		component("comp"),
		child(custom("slow"), "comp"),
		child(component("inner"), "comp"),
		child(custom("slower"), "inner"), // nested components expand too
		child(custom("fast"), "comp"),
		custom("user", "comp"),
	}
	rep, err := model(map[string]time.Duration{"slow": 10 * s, "slower": 12 * s, "fast": 3 * s, "user": 1 * s}).Simulate(rs)
	require.NoError(t, err)
	assert.Equal(t, 12*s, slot(t, rep, "user").Start)
	assert.Equal(t, 13*s, rep.Makespan)
	assert.Equal(t, []string{"slower", "user"}, names(rep.CriticalPath))
}

func TestChildrenInheritTheirComponentsWaitsNotItsChildren(t *testing.T) {
	t.Parallel()
	rs := []sim.Resource{
		custom("gate"),
		component("comp", "gate"), // a component with DependsOn: its URN comes back after gate
		child(custom("x"), "comp"),
		child(custom("y", "x"), "comp"),
	}
	rep, err := model(map[string]time.Duration{"gate": 10 * s, "x": 1 * s, "y": 1 * s}).Simulate(rs)
	require.NoError(t, err)
	assert.Equal(t, 10*s, slot(t, rep, "x").Start, "a child waits for what its component parent waits for")
	assert.Equal(t, 12*s, rep.Makespan)
}

func TestACustomParentAndAProviderAreWaitedFor(t *testing.T) {
	t.Parallel()
	kid := child(custom("kid"), "parent")
	user := custom("user")
	user.Providers = []string{"prov"}
	rep, err := model(map[string]time.Duration{"parent": 4 * s, "prov": 3 * s, "kid": 1 * s, "user": 1 * s}).
		Simulate([]sim.Resource{custom("parent"), kid, custom("prov"), user})
	require.NoError(t, err)
	assert.Equal(t, 4*s, slot(t, rep, "kid").Start)
	assert.Equal(t, 3*s, slot(t, rep, "user").Start)
}

func TestAWaitNoRequirementExplainsIsFoundAndCosted(t *testing.T) {
	t.Parallel()
	rs := []sim.Resource{custom("a"), custom("slow"), custom("b", "a", "slow"), custom("c", "b")}
	lat := map[string]time.Duration{"a": 1 * s, "slow": 9 * s, "b": 1 * s, "c": 1 * s}
	rep, err := model(lat,
		sim.Requirement{Type: "t:a"}, sim.Requirement{Type: "t:slow"},
		sim.Requirement{Type: "t:b", Needs: "t:a", Why: "data"},
		sim.Requirement{Type: "t:c", Needs: "t:b", Why: "data"},
	).Simulate(rs)
	require.NoError(t, err)
	assert.Equal(t, 11*s, rep.Makespan)
	assert.Equal(t, 9*s, rep.Ideal, "the ideal is slow alone, b and c go after a")
	assert.InDelta(t, 11.0/9.0, rep.Ratio(), 1e-9)
	require.Len(t, rep.Unneeded, 1)
	assert.Equal(t, "b", rep.Unneeded[0].Dependent.Name)
	assert.Equal(t, "slow", rep.Unneeded[0].On.Name)
	assert.Empty(t, rep.Unaudited)
}

func TestAWaitImpliedByARequirementIsNotUnneeded(t *testing.T) {
	t.Parallel()
	// c waits for a directly and through b: redundant, not a reason-less wait.
	rs := []sim.Resource{custom("a"), custom("b", "a"), custom("c", "a", "b")}
	rep, err := model(map[string]time.Duration{"a": 1 * s, "b": 1 * s, "c": 1 * s},
		sim.Requirement{Type: "t:a"},
		sim.Requirement{Type: "t:b", Needs: "t:a"},
		sim.Requirement{Type: "t:c", Needs: "t:b"},
	).Simulate(rs)
	require.NoError(t, err)
	assert.Empty(t, rep.Unneeded)
}

func TestAMissingMustRequirementIsAViolationAndLengthensTheIdeal(t *testing.T) {
	t.Parallel()
	rs := []sim.Resource{custom("route"), custom("pool")}
	rep, err := model(map[string]time.Duration{"route": 5 * s, "pool": 2 * s},
		sim.Requirement{Type: "t:route"},
		sim.Requirement{Type: "t:pool", Needs: "t:route", Must: true, Why: "nodes need a way out"},
	).Simulate(rs)
	require.NoError(t, err)
	require.Len(t, rep.Violations, 1)
	assert.Equal(t, "pool", rep.Violations[0].Dependent.Name)
	assert.Equal(t, 5*s, rep.Makespan)
	assert.Equal(t, 7*s, rep.Ideal, "the ideal honours the requirement the program forgot")
}

func TestParallelLimitQueuesOperations(t *testing.T) {
	t.Parallel()
	m := model(map[string]time.Duration{"a": 10 * s, "b": 10 * s, "c": 10 * s})
	m.Parallel = 2
	rep, err := m.Simulate([]sim.Resource{custom("a"), custom("b"), custom("c")})
	require.NoError(t, err)
	assert.Equal(t, 10*s, rep.Makespan)
	assert.Equal(t, 20*s, rep.ParallelMakespan)
}

func TestLatencyTableMatchesExactThenLongestWildcard(t *testing.T) {
	t.Parallel()
	l := sim.Latencies{ByType: map[string]time.Duration{
		"k:*": 1 * s, "k:apps/*": 2 * s, "k:apps/v1:Deployment": 3 * s,
	}, ByName: map[string]time.Duration{"special": 9 * s}}
	for typ, want := range map[string]time.Duration{"k:core/v1:Namespace": 1 * s, "k:apps/v1:StatefulSet": 2 * s, "k:apps/v1:Deployment": 3 * s} {
		got, err := l.Of(sim.Resource{Type: typ, Name: "x", Custom: true})
		require.NoError(t, err)
		assert.Equal(t, want, got, typ)
	}
	got, err := l.Of(sim.Resource{Type: "k:apps/v1:Deployment", Name: "special", Custom: true})
	require.NoError(t, err)
	assert.Equal(t, 9*s, got, "a name overrides its type")
	got, err = l.Of(sim.Resource{Type: "unknown:x:Y", Name: "comp"})
	require.NoError(t, err)
	assert.Zero(t, got, "a component takes no time")
	_, err = l.Of(sim.Resource{Type: "unknown:x:Y", Name: "x", Custom: true})
	require.ErrorContains(t, err, "no latency for unknown:x:Y")
}

func TestCycleIsAnError(t *testing.T) {
	t.Parallel()
	_, err := model(map[string]time.Duration{"a": s, "b": s}).Simulate([]sim.Resource{custom("a", "b"), custom("b", "a")})
	require.ErrorContains(t, err, "cycle")
}

func TestReportPrintsFiguresAndPath(t *testing.T) {
	t.Parallel()
	rep, err := model(map[string]time.Duration{"a": 2 * s, "b": 90 * s}).Simulate([]sim.Resource{custom("a"), custom("b", "a")})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, rep.Write(&buf))
	assert.Contains(t, buf.String(), "ratio makespan / ideal")
	assert.Contains(t, buf.String(), "1.000")
	assert.Regexp(t, `2s\s+1m32s\s+b\s+t:b`, buf.String())
	assert.Equal(t, "a (0s→2s) → b (2s→1m32s)", sim.PathString(rep.CriticalPath))
}

package sim

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Slot is one resource's place in a schedule.
type Slot struct {
	Resource
	// Latency is its create time; Start and Finish are offsets from the
	// beginning of the deployment.
	Latency, Start, Finish time.Duration
}

// Wait is an edge of the recorded graph: Dependent waits for On.
type Wait struct {
	Dependent, On Resource
}

// Violation is a Must requirement the program does not honour.
type Violation struct {
	Dependent Resource
	// Needs is the type the dependent should wait for, and Why the reason.
	Needs, Why string
}

// Report is the outcome of a simulation.
type Report struct {
	// Schedule is every custom resource under unlimited parallelism, in
	// registration order.
	Schedule []Slot
	// Makespan is the deployment's duration under unlimited parallelism:
	// each resource starts as soon as everything it waits for has finished.
	Makespan time.Duration
	// Parallel is Model.Parallel, and ParallelMakespan the duration with at
	// most Parallel operations in flight (equal to Makespan when Parallel is 0).
	Parallel         int
	ParallelMakespan time.Duration
	// Ideal is the longest chain of required predecessors: no schedule that
	// honours the requirements can be shorter.
	Ideal time.Duration
	// CriticalPath is the chain that ends last in Schedule, first to last;
	// IdealPath is the longest chain of the ideal.
	CriticalPath, IdealPath []Slot
	// Unneeded are recorded waits that no requirement explains, directly or
	// through a chain of requirements.
	Unneeded []Wait
	// Violations are Must requirements the program does not honour.
	Violations []Violation
	// Unaudited are custom types with no exact requirement row: all their
	// recorded waits count as required.
	Unaudited []string
}

// Ratio is Makespan over Ideal: 1 when the program waits for nothing more
// than it must.
func (r *Report) Ratio() float64 {
	if r.Ideal == 0 {
		return 1
	}
	return float64(r.Makespan) / float64(r.Ideal)
}

// graph is the recorded program with its waits resolved to indexes.
type graph struct {
	rs       []Resource
	byURN    map[string]int
	children map[string][]int
}

func newGraph(rs []Resource) (*graph, error) {
	g := &graph{rs: rs, byURN: map[string]int{}, children: map[string][]int{}}
	for i, r := range rs {
		if _, dup := g.byURN[r.URN]; dup || r.URN == "" {
			return nil, fmt.Errorf("sim: resource %s (%s) has an empty or duplicate URN", r.Name, r.Type)
		}
		g.byURN[r.URN] = i
	}
	for i, r := range rs {
		if _, ok := g.byURN[r.Parent]; ok {
			g.children[r.Parent] = append(g.children[r.Parent], i)
		}
	}
	return g, nil
}

// ancestorOf reports whether a is i's parent, grand-parent, and so on.
func (g *graph) ancestorOf(a, i int) bool {
	for p, ok := g.byURN[g.rs[i].Parent]; ok; p, ok = g.byURN[g.rs[p].Parent] {
		if p == a {
			return true
		}
	}
	return false
}

// expand adds to set what waiting for urn means when i waits for it: a
// custom resource is itself; a component is all its children, recursively,
// as in Pulumi (the Go SDK expands them when it marshals dependencies, and
// does not descend into the children of custom resources). i itself and its
// own ancestors are skipped: waiting for them would be a cycle. URNs the
// recording does not hold (the stack, default providers) take no time.
func (g *graph) expand(set map[int]bool, urn string, i int) {
	j, ok := g.byURN[urn]
	if !ok || j == i || g.ancestorOf(j, i) {
		return
	}
	if g.rs[j].Custom {
		set[j] = true
		return
	}
	for _, c := range g.children[urn] {
		g.expand(set, g.rs[c].URN, i)
	}
}

// waits returns, for each resource, everything it waits for before the SDK
// registers it: its dependencies and providers (components expanded), a
// custom parent (the SDK awaits the parent's URN, known once it is created),
// and whatever its component parent waits for (a component's URN, which
// children await, comes back once its own registration, with its own
// dependencies and providers, has been sent). A component parent itself
// costs nothing: its registration is bookkeeping.
func (g *graph) waits() [][]int {
	out := make([][]int, len(g.rs))
	done := make([]bool, len(g.rs))
	var visit func(i int, depth int) []int
	visit = func(i int, depth int) []int {
		// depth only guards against a malformed recording whose parents loop.
		if done[i] || depth > len(g.rs) {
			return out[i]
		}
		r := g.rs[i]
		set := map[int]bool{}
		for _, d := range r.Dependencies {
			g.expand(set, d, i)
		}
		for _, p := range r.Providers {
			g.expand(set, p, i)
		}
		if p, ok := g.byURN[r.Parent]; ok {
			if g.rs[p].Custom {
				set[p] = true
			} else {
				for _, w := range visit(p, depth+1) {
					if w != i && !g.ancestorOf(w, i) {
						set[w] = true
					}
				}
			}
		}
		out[i] = sortedKeys(set)
		done[i] = true
		return out[i]
	}
	for i := range g.rs {
		visit(i, 0)
	}
	return out
}

func sortedKeys(set map[int]bool) []int {
	out := make([]int, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// closure returns, for each node, every node it transitively waits for.
func closure(waits [][]int) []map[int]bool {
	out := make([]map[int]bool, len(waits))
	var visit func(i int) map[int]bool
	visit = func(i int) map[int]bool {
		if out[i] != nil {
			return out[i]
		}
		out[i] = map[int]bool{} // a cycle ends here; schedule reports it
		set := map[int]bool{}
		for _, w := range waits[i] {
			set[w] = true
			for a := range visit(w) {
				set[a] = true
			}
		}
		out[i] = set
		return set
	}
	for i := range waits {
		visit(i)
	}
	return out
}

// Simulate replays the deployment of rs under m.
func (m Model) Simulate(rs []Resource) (*Report, error) {
	g, err := newGraph(rs)
	if err != nil {
		return nil, err
	}
	lat := make([]time.Duration, len(rs))
	for i, r := range rs {
		if lat[i], err = m.Latencies.Of(r); err != nil {
			return nil, err
		}
	}
	waits := g.waits()
	start, finish, err := schedule(rs, waits, lat, 0)
	if err != nil {
		return nil, err
	}
	rep := &Report{Parallel: m.Parallel}
	rep.Schedule, rep.Makespan = slots(rs, lat, start, finish)
	rep.CriticalPath = criticalPath(rs, waits, lat, start, finish)
	rep.ParallelMakespan = rep.Makespan
	if m.Parallel > 0 {
		_, pf, err := schedule(rs, waits, lat, m.Parallel)
		if err != nil {
			return nil, err
		}
		rep.ParallelMakespan = slices.Max(pf)
	}

	required := m.required(g, waits, rep)
	istart, ifinish, err := schedule(rs, required, lat, 0)
	if err != nil {
		return nil, fmt.Errorf("sim: the requirements table makes a cycle: %w", err)
	}
	rep.Ideal = slices.Max(ifinish)
	rep.IdealPath = criticalPath(rs, required, lat, istart, ifinish)

	// A recorded wait is explained when it is required, or when a required
	// predecessor transitively requires it anyway.
	reqClosure := closure(required)
	for i, r := range rs {
		if !r.Custom || !m.audited(r.Type) {
			continue
		}
		for _, w := range waits[i] {
			if !reqClosure[i][w] {
				rep.Unneeded = append(rep.Unneeded, Wait{Dependent: r, On: rs[w]})
			}
		}
	}
	return rep, nil
}

// audited reports whether typ has an exact requirement row.
func (m Model) audited(typ string) bool {
	return slices.ContainsFunc(m.Requirements, func(q Requirement) bool { return q.Type == typ })
}

// required resolves the requirement table to resource edges. For each row
// that applies to a resource, the required predecessors are the resources of
// type Needs among everything it transitively waits for in the recording
// (so the instance it really uses is the one counted). An unaudited type
// keeps all its recorded waits. A Must row the recording does not honour is
// a violation, and the ideal then waits for every resource of type Needs:
// the requirement is real even when the program forgets it.
func (m Model) required(g *graph, waits [][]int, rep *Report) [][]int {
	anc := closure(waits)
	byType := map[string][]int{}
	for i, r := range g.rs {
		byType[r.Type] = append(byType[r.Type], i)
	}
	unaudited := map[string]bool{}
	out := make([][]int, len(g.rs))
	for i, r := range g.rs {
		if !r.Custom {
			continue // components do no work and nothing waits for them as such
		}
		set := map[int]bool{}
		if !m.audited(r.Type) {
			unaudited[r.Type] = true
			for _, w := range waits[i] {
				set[w] = true
			}
		}
		for _, q := range m.Requirements {
			if q.Needs == "" || !rowApplies(q.Type, r.Type) {
				continue
			}
			found := false
			for _, j := range byType[q.Needs] {
				if anc[i][j] {
					set[j], found = true, true
				}
			}
			if q.Must && !found && len(byType[q.Needs]) > 0 {
				rep.Violations = append(rep.Violations, Violation{Dependent: r, Needs: q.Needs, Why: q.Why})
				for _, j := range byType[q.Needs] {
					set[j] = true
				}
			}
		}
		delete(set, i)
		out[i] = sortedKeys(set)
	}
	rep.Unaudited = sortedStrings(unaudited)
	return out
}

func rowApplies(row, typ string) bool {
	if prefix, wild := strings.CutSuffix(row, "*"); wild {
		return strings.HasPrefix(typ, prefix)
	}
	return row == typ
}

func sortedStrings(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// slots lists the custom resources of a schedule and its makespan.
func slots(rs []Resource, lat, start, finish []time.Duration) ([]Slot, time.Duration) {
	var out []Slot
	var end time.Duration
	for i, r := range rs {
		end = max(end, finish[i])
		if r.Custom {
			out = append(out, Slot{Resource: r, Latency: lat[i], Start: start[i], Finish: finish[i]})
		}
	}
	return out, end
}

// criticalPath walks back from the resource that finishes last (the first
// registered among equals), each time to the predecessor whose finish
// released it (the longest, then the first registered, among equals).
func criticalPath(rs []Resource, waits [][]int, lat, start, finish []time.Duration) []Slot {
	last := -1
	for i := range rs {
		if last < 0 || finish[i] > finish[last] || (finish[i] == finish[last] && lat[i] > lat[last]) {
			last = i
		}
	}
	var path []Slot
	for i := last; i >= 0; {
		path = append(path, Slot{Resource: rs[i], Latency: lat[i], Start: start[i], Finish: finish[i]})
		next := -1
		for _, w := range waits[i] {
			if finish[w] == start[i] && (next < 0 || lat[w] > lat[next]) {
				next = w
			}
		}
		if start[i] == 0 {
			break
		}
		i = next
	}
	slices.Reverse(path)
	return path
}

// schedule starts each resource once everything it waits for has finished
// and, when parallel > 0, a slot is free (first ready, first served; the
// engine counts every step, components included, against --parallel). It
// returns each resource's start and finish, or an error on a cycle.
func schedule(rs []Resource, waits [][]int, lat []time.Duration, parallel int) (start, finish []time.Duration, err error) {
	n := len(rs)
	start, finish = make([]time.Duration, n), make([]time.Duration, n)
	pending := make([]int, n)
	dependents := make([][]int, n)
	ready := &queue{}
	for i, ws := range waits {
		pending[i] = len(ws)
		for _, w := range ws {
			dependents[w] = append(dependents[w], i)
		}
		if len(ws) == 0 {
			heap.Push(ready, item{0, i})
		}
	}
	running := &queue{}
	var now time.Duration
	done := 0
	for {
		for ready.Len() > 0 && (parallel <= 0 || running.Len() < parallel) {
			it := heap.Pop(ready).(item)
			start[it.i], finish[it.i] = now, now+lat[it.i]
			heap.Push(running, item{finish[it.i], it.i})
		}
		if running.Len() == 0 {
			break
		}
		it := heap.Pop(running).(item)
		now = it.at
		done++
		for _, d := range dependents[it.i] {
			if pending[d]--; pending[d] == 0 {
				heap.Push(ready, item{now, d})
			}
		}
	}
	if done < n {
		var stuck []string
		for i := range rs {
			if pending[i] > 0 {
				stuck = append(stuck, rs[i].Name)
			}
		}
		return nil, nil, fmt.Errorf("sim: dependency cycle among %s", strings.Join(stuck, ", "))
	}
	return start, finish, nil
}

// item is a resource in a queue, ordered by time then registration order.
type item struct {
	at time.Duration
	i  int
}

// queue is a min-heap of items.
type queue []item

func (q queue) Len() int { return len(q) }
func (q queue) Less(a, b int) bool {
	return q[a].at < q[b].at || (q[a].at == q[b].at && q[a].i < q[b].i)
}
func (q queue) Swap(a, b int) { q[a], q[b] = q[b], q[a] }

// Push and Pop implement heap.Interface.
func (q *queue) Push(x any) { *q = append(*q, x.(item)) }

// Pop removes the last element, as heap.Interface requires.
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

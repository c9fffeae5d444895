package sim

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Dur prints a duration rounded to the second, e.g. "9m4s".
func Dur(d time.Duration) string { return d.Round(time.Second).String() }

// Write prints the report for people: figures, the critical path, what
// waits without a reason, and the whole schedule.
func (r *Report) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	p("makespan, unlimited parallelism\t%s\n", Dur(r.Makespan))
	if r.Parallel > 0 {
		p("makespan, --parallel %d\t%s\n", r.Parallel, Dur(r.ParallelMakespan))
	}
	p("ideal (longest chain of required predecessors)\t%s\n", Dur(r.Ideal))
	p("ratio makespan / ideal\t%.3f\n", r.Ratio())
	p("\ncritical path\n")
	writePath(tw, r.CriticalPath)
	if !samePath(r.CriticalPath, r.IdealPath) {
		p("\nideal critical path\n")
		writePath(tw, r.IdealPath)
	}
	p("\nwaits without a requirement\t%s\n", orNone(len(r.Unneeded)))
	for _, u := range r.Unneeded {
		p("  %s waits for %s\t(%s ← %s)\n", u.Dependent.Name, u.On.Name, u.Dependent.Type, u.On.Type)
	}
	p("requirements not honoured\t%s\n", orNone(len(r.Violations)))
	for _, v := range r.Violations {
		p("  %s does not wait for a %s\t%s\n", v.Dependent.Name, v.Needs, v.Why)
	}
	p("types without requirement rows (all waits counted as required)\t%s\n", orNone(len(r.Unaudited)))
	for _, t := range r.Unaudited {
		p("  %s\t\n", t)
	}
	p("\nschedule (unlimited parallelism)\n")
	s := slices.Clone(r.Schedule)
	slices.SortStableFunc(s, func(a, b Slot) int { return int(a.Start - b.Start) })
	writePath(tw, s)
	return tw.Flush()
}

func writePath(w io.Writer, path []Slot) {
	fmt.Fprintf(w, "  start\tfinish\tresource\ttype\n")
	for _, s := range path {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", Dur(s.Start), Dur(s.Finish), s.Name, s.Type)
	}
}

func samePath(a, b []Slot) bool {
	return slices.EqualFunc(a, b, func(x, y Slot) bool { return x.URN == y.URN && x.Start == y.Start })
}

func orNone(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

// PathString is a critical path on one line: "a (0s→2s) → b (2s→4s)".
func PathString(path []Slot) string {
	parts := make([]string, len(path))
	for i, s := range path {
		parts[i] = fmt.Sprintf("%s (%s→%s)", s.Name, Dur(s.Start), Dur(s.Finish))
	}
	return strings.Join(parts, " → ")
}

// Package figures gathers the performance figures into one table: the
// deployment simulator's, and benchmark results parsed from `go test -bench`
// output.
package figures

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/bench/sim"
)

// Row is one line of the table.
type Row struct {
	// Figure names what is measured, Value is the figure, Detail the rest.
	Figure, Value, Detail string
}

// Simulation turns a simulator report into rows: makespans, ideal, ratio,
// one row per step of the critical path, and the counts of waits without a
// requirement and of requirements not honoured.
func Simulation(r *sim.Report) []Row {
	rows := []Row{
		{"deploy makespan, unlimited parallelism", sim.Dur(r.Makespan), "simulated: every resource starts when all it waits for has finished"},
	}
	if r.Parallel > 0 {
		rows = append(rows, Row{fmt.Sprintf("deploy makespan, --parallel %d", r.Parallel), sim.Dur(r.ParallelMakespan), "the Pulumi CLI's default on 2 CPUs (4 × GOMAXPROCS)"})
	}
	rows = append(rows,
		Row{"deploy ideal (critical path of real requirements)", sim.Dur(r.Ideal), "lower bound for any correct program"},
		Row{"deploy ratio makespan / ideal", fmt.Sprintf("%.3f", r.Ratio()), "goal ≤ 1.05"},
	)
	for i, s := range r.CriticalPath {
		rows = append(rows, Row{
			fmt.Sprintf("critical path %d/%d", i+1, len(r.CriticalPath)),
			sim.Dur(s.Start) + " → " + sim.Dur(s.Finish),
			s.Name + " (" + s.Type + ")",
		})
	}
	rows = append(rows,
		Row{"waits without a requirement", strconv.Itoa(len(r.Unneeded)), names(r.Unneeded)},
		Row{"requirements not honoured", strconv.Itoa(len(r.Violations)), ""},
	)
	return rows
}

// Clusters is the row of a simulation with n clusters (kapsule:clusters),
// compared with the one-cluster stack's.
func Clusters(n int, many, one *sim.Report) Row {
	noun := "clusters"
	if n == 1 {
		noun = "cluster in kapsule:clusters"
	}
	return Row{
		fmt.Sprintf("deploy makespan, %d %s", n, noun),
		sim.Dur(many.Makespan),
		fmt.Sprintf("%.3f × the one-cluster stack's %s (goal ≤ 1.05); --parallel %d: %s", float64(many.Makespan)/float64(one.Makespan), sim.Dur(one.Makespan), many.Parallel, sim.Dur(many.ParallelMakespan)),
	}
}

func names(ws []sim.Wait) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.Dependent.Name + " waits for " + w.On.Name
	}
	return strings.Join(parts, "; ")
}

// modulePrefix is stripped from package paths in figure names.
const modulePrefix = "github.com/gitlab-kapsule/gitlab-kapsule/"

// ParseBench reads `go test -bench -benchmem` output: one row per result
// line, named package.Benchmark, with ns/op as the value and B/op, allocs/op
// and custom metrics as the detail; a skipped benchmark gets a row with its
// reason.
func ParseBench(out string) []Row {
	var rows []Row
	pkg := ""
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), modulePrefix)
			continue
		}
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "--- SKIP: "); ok && strings.HasPrefix(name, "Benchmark") {
			reason := ""
			if i+1 < len(lines) {
				reason = strings.TrimSpace(lines[i+1])
			}
			rows = append(rows, Row{figureName(pkg, strings.Fields(name)[0]), "skipped", reason})
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		row := Row{Figure: figureName(pkg, f[0])}
		detail := []string{}
		for j := 2; j+1 < len(f); j += 2 {
			v, unit := f[j], f[j+1]
			if unit == "ns/op" {
				row.Value = v + " ns/op" + human(v)
				continue
			}
			detail = append(detail, v+" "+unit)
		}
		row.Detail = strings.Join(append(detail, "N="+f[1]), ", ")
		rows = append(rows, row)
	}
	return rows
}

// figureName is "package.BenchmarkX" without the -GOMAXPROCS suffix.
func figureName(pkg, bench string) string {
	if i := strings.LastIndex(bench, "-"); i > 0 {
		if _, err := strconv.Atoi(bench[i+1:]); err == nil {
			bench = bench[:i]
		}
	}
	if pkg == "" {
		return bench
	}
	return pkg + "." + bench
}

// human adds a readable form of a ns/op figure: " (3.2 ms)".
func human(ns string) string {
	v, err := strconv.ParseFloat(ns, 64)
	if err != nil {
		return ""
	}
	switch {
	case v >= 1e9:
		return fmt.Sprintf(" (%.2f s)", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf(" (%.2f ms)", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf(" (%.2f µs)", v/1e3)
	}
	return ""
}

// Write prints rows as one Markdown table.
func Write(w io.Writer, rows []Row) error {
	if _, err := fmt.Fprintln(w, "| figure | value | detail |\n|---|---|---|"); err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(w, "| %s | %s | %s |\n", cell(r.Figure), cell(r.Value), cell(r.Detail)); err != nil {
			return err
		}
	}
	return nil
}

// cell keeps a value from breaking the table.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Command simulate prints the deployment simulator's report for the whole
// program with the default configuration: makespan, ideal, ratio, critical
// path and the schedule. With -table it prints instead the one table of all
// figures, adding the benchmark results read from the files it is given
// (`go test -bench` output). -set changes a latency, to ask "what if".
// -day2 prints the day-2 model: upgrade and host replacement, backup.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/bench/figures"
	"github.com/gitlab-kapsule/gitlab-kapsule/bench/sim"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// overrides collects -set TYPE_OR_NAME=DURATION flags.
type overrides map[string]time.Duration

func (o overrides) String() string { return fmt.Sprint(map[string]time.Duration(o)) }

func (o overrides) Set(v string) error {
	key, dur, ok := strings.Cut(v, "=")
	d, err := time.ParseDuration(dur)
	if !ok || err != nil {
		return fmt.Errorf("want TYPE_OR_NAME=DURATION, e.g. scaleway:kubernetes/cluster:Cluster=90s")
	}
	o[key] = d
	return nil
}

func main() {
	set := overrides{}
	day2 := flag.Bool("day2", false, "print the day-2 model instead: upgrade and host replacement step by step, backup size and time")
	table := flag.Bool("table", false, "print the one table of all figures, with `go test -bench` output files as arguments")
	stackName := flag.String("stack", "dev", "stack name the program runs under")
	parallel := flag.Int("parallel", sim.DefaultModel().Parallel, "the engine's --parallel for the second makespan (0: only unlimited)")
	flag.Var(set, "set", "override a latency by type token or logical name: TYPE_OR_NAME=DURATION (repeatable)")
	flag.Parse()
	if *day2 {
		if err := runDay2(set); err != nil {
			fmt.Fprintln(os.Stderr, "simulate:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*table, *stackName, *parallel, set, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
}

func run(table bool, stackName string, parallel int, set overrides, benchFiles []string) error {
	rs, err := sim.Record(stackName, nil, nil, func(ctx *pulumi.Context) error {
		_, err := stack.Build(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("run the program under mocks: %w", err)
	}
	m := sim.DefaultModel()
	m.Parallel = parallel
	m.Latencies.ByName = map[string]time.Duration{}
	for k, d := range set {
		if strings.Contains(k, ":") {
			m.Latencies.ByType[k] = d
		} else {
			m.Latencies.ByName[k] = d
		}
	}
	rep, err := m.Simulate(rs)
	if err != nil {
		return err
	}
	if !table {
		return rep.Write(os.Stdout)
	}
	rows := figures.Simulation(rep)
	for _, n := range sim.ClusterCounts {
		rs, err := sim.Record(stackName, sim.ClusterConfig(n), nil, func(ctx *pulumi.Context) error {
			_, err := stack.Build(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("run the program with %d clusters under mocks: %w", n, err)
		}
		many, err := m.Simulate(rs)
		if err != nil {
			return err
		}
		rows = append(rows, figures.Clusters(n, many, rep))
	}
	d, err := sim.DefaultDay2().Compute()
	if err != nil {
		return err
	}
	for _, f := range d.Figures() {
		rows = append(rows, figures.Row{Figure: f.Name, Value: f.Value, Detail: f.Detail})
	}
	for _, f := range benchFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		rows = append(rows, figures.ParseBench(string(data))...)
	}
	return figures.Write(os.Stdout, rows)
}

// runDay2 prints the day-2 model with the default latency table, changed
// by -set's type tokens.
func runDay2(set overrides) error {
	in := sim.DefaultDay2()
	for k, d := range set {
		if !strings.Contains(k, ":") {
			return fmt.Errorf("-day2 takes -set by type token only, not %q", k)
		}
		in.Latencies.ByType[k] = d
	}
	d, err := in.Compute()
	if err != nil {
		return err
	}
	return d.Write(os.Stdout)
}

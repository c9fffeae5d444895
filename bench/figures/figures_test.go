package figures_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/bench/figures"
	"github.com/gitlab-kapsule/gitlab-kapsule/bench/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/gitlab-kapsule/gitlab-kapsule/bench
cpu: AMD EPYC
BenchmarkProgramUnderMocks-2   	      85	  13912345 ns/op	 5123456 B/op	   61234 allocs/op
BenchmarkRender-2              	    4000	    301234 ns/op	   81234 B/op	     612 allocs/op
PASS
ok  	github.com/gitlab-kapsule/gitlab-kapsule/bench	3.1s
goos: linux
pkg: github.com/gitlab-kapsule/gitlab-kapsule/tests/bastion
BenchmarkDetectionLatency-2   	       3	2310000000 ns/op	       812.0 median-ms	      1490 worst-ms	      2000 cap-ms
--- SKIP: BenchmarkPoll
    helpers_test.go:40: no sshd on PATH
PASS
`

func TestParseBenchReadsEveryMetric(t *testing.T) {
	t.Parallel()
	rows := figures.ParseBench(benchOutput)
	require.Len(t, rows, 4)
	assert.Equal(t, figures.Row{
		Figure: "bench.BenchmarkProgramUnderMocks",
		Value:  "13912345 ns/op (13.91 ms)",
		Detail: "5123456 B/op, 61234 allocs/op, N=85",
	}, rows[0])
	assert.Equal(t, "301234 ns/op (301.23 µs)", rows[1].Value)
	assert.Equal(t, "tests/bastion.BenchmarkDetectionLatency", rows[2].Figure)
	assert.Equal(t, "812.0 median-ms, 1490 worst-ms, 2000 cap-ms, N=3", rows[2].Detail)
	assert.Equal(t, figures.Row{Figure: "tests/bastion.BenchmarkPoll", Value: "skipped", Detail: "helpers_test.go:40: no sshd on PATH"}, rows[3])
}

func TestParseBenchIgnoresOtherLines(t *testing.T) {
	t.Parallel()
	assert.Empty(t, figures.ParseBench("ok  \tx\t0.1s\nBenchmarkOnlyAName\nBenchmarkX-2 notanumber 1 ns/op\n"))
}

func TestTableHasSimulatorAndBenchRows(t *testing.T) {
	t.Parallel()
	m := sim.Model{Latencies: sim.Latencies{ByType: map[string]time.Duration{"t:*": time.Minute}}, Parallel: 1}
	rep, err := m.Simulate([]sim.Resource{{URN: "a", Type: "t:a", Name: "a", Custom: true}, {URN: "b", Type: "t:b", Name: "b", Custom: true}})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, figures.Write(&buf, append(figures.Simulation(rep), figures.ParseBench(benchOutput)...)))
	out := buf.String()
	assert.Contains(t, out, "| figure | value | detail |\n|---|---|---|\n")
	assert.Contains(t, out, "| deploy makespan, unlimited parallelism | 1m0s |")
	assert.Contains(t, out, "| deploy makespan, --parallel 1 | 2m0s |")
	assert.Contains(t, out, "| deploy ratio makespan / ideal | 1.000 |")
	assert.Contains(t, out, "| critical path 1/1 | 0s → 1m0s | a (t:a) |")
	assert.Contains(t, out, "| bench.BenchmarkRender | 301234 ns/op (301.23 µs) |")
}

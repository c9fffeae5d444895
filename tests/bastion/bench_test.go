package bastion

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// benchCap is the backoff cap of the latency benchmark: the production
// backoff (1 s first pause, jitter) with a 2 s cap instead of 15 s, so a run
// takes seconds; the goal is a worst latency below the cap plus 1 s.
const benchCap = 2 * time.Second

// BenchmarkDetectionLatency measures, over b.N waits through the real sshd,
// the time from the moment GitLab turns ready to the moment the wait
// returns. GitLab turns ready at a random moment 0.5–4.5 s into each wait.
// Run with -benchtime=20x; the figures are the custom metrics.
func BenchmarkDetectionLatency(b *testing.B) {
	bastion := harness.StartBastion(b)
	latencies := make([]time.Duration, 0, b.N)
	for range b.N {
		g := startGitLab(b, 502)
		a := args(bastion, g)
		a.PollInterval = benchCap.String()
		a.Timeout = "1m"
		done := goWait(context.Background(), &provider.Waiter{}, config(b, a))
		time.Sleep(500*time.Millisecond + rand.N(4*time.Second))
		flipped := time.Now()
		g.ready.Store(true)
		r := <-done
		if r.err != nil {
			b.Fatal(r.err)
		}
		latencies = append(latencies, r.at.Sub(flipped))
	}
	slices.Sort(latencies)
	b.ReportMetric(ms(latencies[len(latencies)/2]), "median-ms")
	b.ReportMetric(ms(latencies[len(latencies)-1]), "worst-ms")
	b.ReportMetric(ms(benchCap), "cap-ms")
}

// BenchmarkConnectionsPerWait counts TCP connections to the bastion per wait
// (GitLab answers 502, 502, 404, then 200), as the bastion's proxy sees them.
func BenchmarkConnectionsPerWait(b *testing.B) {
	bastion := harness.StartBastion(b)
	before := bastion.Connections()
	polls := int64(0)
	for range b.N {
		g := startGitLab(b, 502, 502, 404, 200)
		if _, err := fastWaiter().Wait(context.Background(), config(b, args(bastion, g))); err != nil {
			b.Fatal(err)
		}
		polls += g.requests.Load()
	}
	b.ReportMetric(float64(bastion.Connections()-before)/float64(b.N), "conns/wait")
	b.ReportMetric(float64(polls)/float64(b.N), "polls/wait")
}

// BenchmarkPoll is one readiness request through the session's SSH
// connection to a ready GitLab; allocs/op is the allocations per poll.
func BenchmarkPoll(b *testing.B) {
	bastion := harness.StartBastion(b)
	g := startGitLab(b, 200)
	s, err := fastWaiter().Open(config(b, args(bastion, g)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Poll(ctx); err != nil { // connect outside the measurement
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		st, err := s.Poll(ctx)
		if err != nil || !st.Ready {
			b.Fatalf("poll: %v %+v", err, st)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(s.Connections()), "ssh-conns")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

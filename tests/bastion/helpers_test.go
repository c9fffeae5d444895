package bastion

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// readyBody is what GitLab's /-/readiness?all=1 answers when all is well.
const readyBody = `{"status":"ok","master_check":[{"status":"ok"}],"db_check":[{"status":"ok"}],"cache_check":[{"status":"ok"}]}`

// gitlab is a GitLab stand-in: it answers the scheduled statuses in turn
// (repeating the last), or 200 with readyBody once ready is set.
type gitlab struct {
	codes    []int
	ready    atomic.Bool
	hang     bool // hold every request until the client gives up
	requests atomic.Int64
	seen     chan struct{} // one token per request, never blocking
	host     string
	port     int
}

func startGitLab(t testing.TB, codes ...int) *gitlab {
	t.Helper()
	g := &gitlab{codes: codes, seen: make(chan struct{}, 1024)}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	g.host = host
	g.port, _ = strconv.Atoi(port)
	return g
}

func (g *gitlab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := g.requests.Add(1)
	select {
	case g.seen <- struct{}{}:
	default:
	}
	if g.hang {
		<-r.Context().Done()
		return
	}
	code := http.StatusOK
	if !g.ready.Load() && len(g.codes) > 0 {
		code = g.codes[min(int(n)-1, len(g.codes)-1)]
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if code == http.StatusOK {
		_, _ = io.WriteString(w, readyBody)
	} else {
		_, _ = io.WriteString(w, `<html><body>`+http.StatusText(code)+`</body></html>`)
	}
}

// waitRequests blocks until GitLab has seen n requests in all, or fails t.
func (g *gitlab) waitRequests(t testing.TB, n int64) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for g.requests.Load() < n {
		select {
		case <-g.seen:
		case <-deadline:
			t.Fatalf("GitLab saw %d requests, want %d", g.requests.Load(), n)
		}
	}
}

// args are GitLabReady's inputs for a wait through b at g.
func args(b *harness.Bastion, g *gitlab) provider.GitLabReadyArgs {
	return provider.GitLabReadyArgs{Access: provider.Access{
		BastionHost:  b.Host,
		BastionPort:  b.Port,
		BastionUser:  b.User,
		PrivateKey:   b.PrivateKey,
		TargetHost:   g.host,
		TargetPort:   g.port,
		Timeout:      "30s",
		PollInterval: "200ms",
	}}
}

// config turns args into a wait's Config, failing t on invalid inputs.
func config(t testing.TB, a provider.GitLabReadyArgs) provider.Config {
	t.Helper()
	cfg, err := a.WaitConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fastWaiter starts polling at 50 ms so the tests take little time.
func fastWaiter() *provider.Waiter {
	return &provider.Waiter{InitialDelay: 50 * time.Millisecond, AttemptTimeout: 3 * time.Second}
}

// waitResult is what a wait run in the background returned.
type waitResult struct {
	res provider.Result[provider.Status]
	err error
	at  time.Time
}

// goWait runs a wait in the background.
func goWait(ctx context.Context, w *provider.Waiter, cfg provider.Config) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		res, err := w.Wait(ctx, cfg)
		ch <- waitResult{res, err, time.Now()}
	}()
	return ch
}

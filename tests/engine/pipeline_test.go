package engine

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// What the pipeline tests wait for: main of the agent's configuration
// project, with a token the stand-in accepts.
const (
	pipelineProject = "root/kubernetes-agent"
	pipelineToken   = "glpat-engine-pipeline-token"
	pipelineSha     = "5d1c0a4e3f2b6a7980c1d2e3f4a5b6c7d8e9f012"
	pipelineWeb     = "https://gitlab.standin"
)

// pipelineStandIn is a loopback GitLab stand-in for PipelineSucceeded: it
// serves the three REST endpoints the resource asks, as GitLab documents
// them (doc/api/pipelines.md "List project pipelines" and "Get a single
// pipeline", doc/api/jobs.md "List pipeline jobs"), for one pipeline (id 7)
// of main whose status is the next of statuses at each list request (the
// last one repeating). Its one job, deploy-kapsule, has the pipeline's
// status. The project must be the URL-encoded full path, the token the
// PRIVATE-TOKEN header.
type pipelineStandIn struct {
	host string
	port int
	// lists counts the list requests: one a wait's attempt.
	lists    atomic.Int64
	statuses []string

	mu     sync.Mutex
	status string
}

func startPipelineStandIn(t *testing.T, statuses ...string) *pipelineStandIn {
	t.Helper()
	g := &pipelineStandIn{statuses: statuses}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	g.host = host
	g.port, err = strconv.Atoi(port)
	require.NoError(t, err)
	return g
}

func (g *pipelineStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("PRIVATE-TOKEN") != pipelineToken {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"401 Unauthorized"}`))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v4/projects/"+url.PathEscape(pipelineProject)+"/pipelines")
	if !ok {
		http.NotFound(w, r)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	pipeline := map[string]any{
		"id": 7, "iid": 1, "project_id": 1, "ref": "main", "sha": pipelineSha, "source": "push",
		"web_url": pipelineWeb + "/" + pipelineProject + "/-/pipelines/7",
	}
	switch rest {
	case "":
		n := g.lists.Add(1)
		g.status = g.statuses[min(int(n), len(g.statuses))-1]
		pipeline["status"] = g.status
		var list []map[string]any
		if r.URL.Query().Get("ref") == "main" {
			list = append(list, pipeline)
		}
		_ = json.NewEncoder(w).Encode(list)
	case "/7":
		pipeline["status"] = g.status
		pipeline["finished_at"] = "2026-01-02T03:09:58.000Z"
		_ = json.NewEncoder(w).Encode(pipeline)
	case "/7/jobs":
		jobs := []map[string]any{}
		if slices.Contains(r.URL.Query()["scope[]"], g.status) {
			jobs = append(jobs, map[string]any{
				"id": 70, "name": "deploy-kapsule", "stage": "deploy", "status": g.status,
				"allow_failure": false, "failure_reason": "script_failure",
				"web_url": pipelineWeb + "/" + pipelineProject + "/-/jobs/70",
			})
		}
		_ = json.NewEncoder(w).Encode(jobs)
	default:
		http.NotFound(w, r)
	}
}

// pipelineStack is a stack whose program waits, through b, for the
// pipeline g reports.
func pipelineStack(t *testing.T, eng *harness.Engine, name string, b *harness.Bastion, g *pipelineStandIn) auto.Stack {
	t.Helper()
	program := func(ctx *pulumi.Context) error {
		r, err := gitlabwait.NewPipelineSucceeded(ctx, "pipeline", &gitlabwait.PipelineSucceededArgs{
			Access:      b.Access(g.host, g.port, 2*time.Minute, 500*time.Millisecond),
			Token:       pulumi.String(pipelineToken),
			ProjectPath: pulumi.String(pipelineProject),
			Ref:         pulumi.String("main"),
		})
		if err != nil {
			return err
		}
		ctx.Export("pipelineId", r.PipelineId)
		ctx.Export("webUrl", r.WebUrl)
		ctx.Export("status", r.Status)
		ctx.Export("commitSha", r.CommitSha)
		ctx.Export("finishedAt", r.FinishedAt)
		ctx.Export("fingerprint", r.BastionHostKeyFingerprint)
		return nil
	}
	return gitlabwaitStack(t, eng, name, program)
}

// TestPipelineSucceededUnderEngine runs the provider plugin under the real
// engine: the first up waits, through a real sshd, while the stand-in
// reports the pipeline running, then records it once it succeeded; a second
// up changes nothing and asks nothing; destroy succeeds.
func TestPipelineSucceededUnderEngine(t *testing.T) {
	eng := harness.NewEngine(t)
	b := harness.StartBastion(t)
	g := startPipelineStandIn(t, "running", "running", "success")
	s := pipelineStack(t, eng, "pipeline", b, g)

	start := time.Now()
	up := harness.Up(t, s)
	t.Logf("the first up took %s", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, map[string]int{"create": 2}, harness.Changed(up.Summary), "the stack and PipelineSucceeded")
	assert.EqualValues(t, 3, g.lists.Load(), "up waited: running, running, success")
	assert.Equal(t, 7.0, up.Outputs["pipelineId"].Value, "an int output comes as a number")
	assert.Equal(t, pipelineWeb+"/"+pipelineProject+"/-/pipelines/7", output(t, up.Outputs, "webUrl"))
	assert.Equal(t, "success", output(t, up.Outputs, "status"))
	assert.Equal(t, pipelineSha, output(t, up.Outputs, "commitSha"))
	assert.Equal(t, "2026-01-02T03:09:58.000Z", output(t, up.Outputs, "finishedAt"))
	assert.Equal(t, b.HostKeyFingerprint(), output(t, up.Outputs, "fingerprint"))
	assert.EqualValues(t, 1, b.Connections(), "one connection to the bastion for the whole wait")
	assert.NotContains(t, up.StdOut, pipelineToken, "the token never appears in the engine's output")

	again := harness.Up(t, s)
	assert.Empty(t, harness.Changed(again.Summary), "a second up changes nothing")
	assert.EqualValues(t, 3, g.lists.Load(), "a second up does not poll")
	assert.EqualValues(t, 1, b.Connections(), "a second up does not dial")

	harness.Destroy(t, s)
}

// TestPipelineFailedUnderEngine: a pipeline that fails makes up fail at
// once, naming the pipeline and the failed job's page, where its log is.
func TestPipelineFailedUnderEngine(t *testing.T) {
	eng := harness.NewEngine(t)
	b := harness.StartBastion(t)
	g := startPipelineStandIn(t, "running", "failed")
	s := pipelineStack(t, eng, "pipeline-failed", b, g)

	start := time.Now()
	_, err := s.Up(t.Context(), optup.ProgressStreams(testWriter{t}))
	t.Logf("the failed up took %s", time.Since(start).Round(time.Millisecond))
	require.Error(t, err, "up must fail when the pipeline fails")
	msg := err.Error()
	assert.Contains(t, msg, "pipeline 7 of "+pipelineProject+"@main failed: "+pipelineWeb+"/"+pipelineProject+"/-/pipelines/7")
	assert.Contains(t, msg, "job deploy-kapsule (stage deploy, failed: script_failure), log at "+pipelineWeb+"/"+pipelineProject+"/-/jobs/70")
	assert.NotContains(t, msg, pipelineToken, "the token never appears in the error")
	assert.EqualValues(t, 2, g.lists.Load(), "the wait stopped as soon as the pipeline failed")
}

// testWriter sends what the engine prints to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line = strings.TrimRight(line, " "); line != "" {
			w.t.Logf("up: %s", line)
		}
	}
	return len(p), nil
}

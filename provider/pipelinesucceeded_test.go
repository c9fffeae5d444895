package provider

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two commits of the project's main branch.
const (
	shaA = "e9b5076215f34f98fb64e4553bce6ad8e1856e63"
	shaB = "9e945eff8b7b80209cfdbf8240258587f366c109"
)

// The stages a first pipeline goes through, as pipeline 11 of shaA on main:
// no pipeline, created, running its deploy job, then success.
var (
	noPipeline = []fakePipeline{}
	created11  = []fakePipeline{{ID: 11, Ref: "main", Sha: shaA, Status: "created"}}
	running11  = []fakePipeline{{ID: 11, Ref: "main", Sha: shaA, Status: "running", Jobs: []fakeJob{
		{ID: 101, Name: "build", Stage: "build", Status: "success"},
		{ID: 102, Name: "deploy-kapsule", Stage: "deploy", Status: "running"},
	}}}
	success11 = []fakePipeline{{ID: 11, Ref: "main", Sha: shaA, Status: "success", FinishedAt: "2026-01-02T03:09:58.000Z", Jobs: []fakeJob{
		{ID: 101, Name: "build", Stage: "build", Status: "success"},
		{ID: 102, Name: "deploy-kapsule", Stage: "deploy", Status: "success"},
	}}}
)

// finished11 is pipeline 11 ended with status, its jobs as given.
func finished11(status string, jobs ...fakeJob) []fakePipeline {
	return []fakePipeline{{ID: 11, Ref: "main", Sha: shaA, Status: status, FinishedAt: "2026-01-02T03:09:58.000Z", Jobs: jobs}}
}

// pipelineArgs are PipelineSucceeded's inputs for GitLab at host:port through the fake bastion.
func pipelineArgs(key, host string, port int) PipelineSucceededArgs {
	return PipelineSucceededArgs{
		Access: Access{BastionHost: "bastion.invalid", BastionPort: 61000, PrivateKey: key, TargetHost: host, TargetPort: port},
		Token:  patForTests, ProjectPath: "root/kubernetes-agent", Ref: "main",
	}
}

func TestPipelineSucceededWaitsUntilSuccess(t *testing.T) {
	t.Parallel()
	g := newFakePipelines(noPipeline, created11, running11, success11)
	env := newFakeEnv(t, g, nil)
	_, created, err := checkAndCreate(t, env.server, pipelineURN, pipelineInputs(env.key, env.host, env.port, nil))
	require.NoError(t, err)
	out := created.Properties
	assert.EqualValues(t, 4, g.lists.Load(), "no pipeline, created, running, success")
	assert.Equal(t, "pipeline:root/kubernetes-agent@main", created.ID)
	assert.EqualValues(t, 11, out.Get("pipelineId").AsNumber())
	assert.Equal(t, fakeWebBase+"/root/kubernetes-agent/-/pipelines/11", out.Get("webUrl").AsString())
	assert.Equal(t, "success", out.Get("status").AsString())
	assert.Equal(t, shaA, out.Get("commitSha").AsString())
	assert.Equal(t, "2026-01-02T03:09:58.000Z", out.Get("finishedAt").AsString(), "from GET .../pipelines/11: the list has no finished_at")
	assert.True(t, out.Get("sha").IsNull() || out.Get("sha").AsString() == "", "the sha input stays unset")
	assert.Equal(t, "20m", out.Get("timeout").AsString(), "the resource's own default timeout")
	assert.True(t, out.Get("token").Secret(), "the token stays a secret in state")
	assert.NotEmpty(t, out.Get("bastionHostKeyFingerprint").AsString())

	sent := g.sent()
	list := "/api/v4/projects/root%2Fkubernetes-agent/pipelines?order_by=id&per_page=20&ref=main&sort=desc"
	assert.Equal(t, list, sent[0], "the project's full path URL-encoded, the newest pipelines of the ref first")
	assert.Contains(t, sent, "/api/v4/projects/root%2Fkubernetes-agent/pipelines/11/jobs?per_page=100&scope%5B%5D=running&scope%5B%5D=pending",
		"a running pipeline's jobs are asked for the progress line")
	assert.Equal(t, "/api/v4/projects/root%2Fkubernetes-agent/pipelines/11", sent[len(sent)-1])
}

// TestPipelineProgressNamesTheRunningJob: each attempt that is not done
// says what the pipeline is doing, and the running job.
func TestPipelineProgressNamesTheRunningJob(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	host, port := startGitLab(t, newFakePipelines(noPipeline, created11, running11, success11))
	w, err := pipelineArgs(key, host, port).plan()
	require.NoError(t, err)
	var progress []string
	w.cfg.Progress = func(msg string) { progress = append(progress, msg) }
	s, err := (&Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}).Open(w.cfg)
	require.NoError(t, err)
	defer s.Close()

	res, err := waitFor(context.Background(), s, w.poller(s))
	require.NoError(t, err)
	assert.Equal(t, 4, res.Attempts)
	assert.Equal(t, []string{
		"waiting for pipeline of root/kubernetes-agent@main (attempt 1, last: no pipeline yet)",
		"waiting for pipeline of root/kubernetes-agent@main (attempt 2, last: created)",
		"waiting for pipeline of root/kubernetes-agent@main (attempt 3, last: running, job deploy-kapsule)",
	}, progress)
	assert.Equal(t, "pipeline of root/kubernetes-agent@main", w.subject)
}

func TestPipelineFailureNamesTheFailedJobs(t *testing.T) {
	t.Parallel()
	g := newFakePipelines(running11, finished11("failed",
		fakeJob{ID: 101, Name: "build", Stage: "build", Status: "success"},
		fakeJob{ID: 102, Name: "lint", Stage: "test", Status: "failed", AllowFailure: true, FailureReason: "script_failure"},
		fakeJob{ID: 103, Name: "deploy-kapsule", Stage: "deploy", Status: "failed", FailureReason: "script_failure"},
		fakeJob{ID: 104, Name: "smoke", Stage: "verify", Status: "failed", FailureReason: "stuck_or_timeout_failure"},
	))
	env := newFakeEnv(t, g, nil)
	_, _, err := checkAndCreate(t, env.server, pipelineURN, pipelineInputs(env.key, env.host, env.port, nil))
	require.ErrorIs(t, err, ErrPipelineNotSucceeded)
	assert.True(t, IsPermanent(err), "a failed pipeline is final")
	assert.EqualValues(t, 2, g.lists.Load(), "the wait stops at once when the pipeline fails")
	var pe *PipelineError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, []string{"smoke", "deploy-kapsule"}, jobNames(pe.Jobs), "the failed jobs, newest first, not the one allowed to fail")

	msg := err.Error()
	assert.Contains(t, msg, "pipeline 11 of root/kubernetes-agent@main failed: "+fakeWebBase+"/root/kubernetes-agent/-/pipelines/11")
	assert.Contains(t, msg, "job deploy-kapsule (stage deploy, failed: script_failure), log at "+fakeWebBase+"/root/kubernetes-agent/-/jobs/103")
	assert.Contains(t, msg, "job smoke (stage verify, failed: stuck_or_timeout_failure), log at "+fakeWebBase+"/root/kubernetes-agent/-/jobs/104")
	assert.NotContains(t, msg, "lint", "a job allowed to fail did not fail the pipeline")
	assert.Contains(t, msg, "then run up again")
	assert.NotContains(t, msg, patForTests, "the token never appears in messages")
	assert.Contains(t, g.sent(), "/api/v4/projects/root%2Fkubernetes-agent/pipelines/11/jobs?per_page=100&scope%5B%5D=failed")
}

func TestPipelineFinalStatusesStopAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status string
		jobs   []fakeJob
		want   []string
	}{{
		status: "canceled",
		jobs: []fakeJob{
			{ID: 101, Name: "build", Stage: "build", Status: "success"},
			{ID: 102, Name: "deploy-kapsule", Stage: "deploy", Status: "canceled"},
		},
		want: []string{"pipeline 11 of root/kubernetes-agent@main was canceled", "job deploy-kapsule (stage deploy, canceled), log at " + fakeWebBase + "/root/kubernetes-agent/-/jobs/102"},
	}, {
		status: "manual",
		jobs: []fakeJob{
			{ID: 101, Name: "build", Stage: "build", Status: "success"},
			{ID: 102, Name: "approve", Stage: "deploy", Status: "manual"},
		},
		want: []string{"is blocked on a manual job (status manual)", "job approve (stage deploy, manual), run it at " + fakeWebBase + "/root/kubernetes-agent/-/jobs/102", "allow_failure: true"},
	}, {
		status: "skipped",
		want:   []string{"pipeline 11 of root/kubernetes-agent@main was skipped: no job ran", fakeWebBase + "/root/kubernetes-agent/-/pipelines/11"},
	}} {
		t.Run(tc.status, func(t *testing.T) {
			t.Parallel()
			g := newFakePipelines(running11, finished11(tc.status, tc.jobs...))
			env := newFakeEnv(t, g, nil)
			_, _, err := checkAndCreate(t, env.server, pipelineURN, pipelineInputs(env.key, env.host, env.port, nil))
			require.ErrorIs(t, err, ErrPipelineNotSucceeded)
			assert.True(t, IsPermanent(err))
			assert.EqualValues(t, 2, g.lists.Load(), "no attempt after the final status")
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			assert.NotContains(t, err.Error(), patForTests)
		})
	}
}

// TestPipelineOfAnotherCommitIsIgnored: with sha, a newer pipeline of the
// ref for another commit is not the one waited for, even a failed one.
func TestPipelineOfAnotherCommitIsIgnored(t *testing.T) {
	t.Parallel()
	otherFailed := fakePipeline{ID: 12, Ref: "main", Sha: shaB, Status: "failed", Jobs: []fakeJob{{ID: 201, Name: "deploy-kapsule", Stage: "deploy", Status: "failed"}}}
	otherBranch := fakePipeline{ID: 13, Ref: "feature", Sha: shaA, Status: "failed"}
	states := [][]fakePipeline{
		{otherFailed, otherBranch},
		{running11[0], otherFailed, otherBranch},
		{success11[0], otherFailed, otherBranch},
	}

	g := newFakePipelines(states...)
	env := newFakeEnv(t, g, nil)
	_, created, err := checkAndCreate(t, env.server, pipelineURN, pipelineInputs(env.key, env.host, env.port, map[string]property.Value{"sha": property.New(shaA)}))
	require.NoError(t, err)
	assert.EqualValues(t, 11, created.Properties.Get("pipelineId").AsNumber())
	assert.Equal(t, shaA, created.Properties.Get("commitSha").AsString())
	assert.Equal(t, "pipeline:root/kubernetes-agent@main:"+shaA, created.ID)
	assert.EqualValues(t, 3, g.lists.Load(), "no pipeline of the commit, running, success")
	assert.Contains(t, g.sent()[0], "&sha="+shaA+"&", "the list is asked for the commit's pipelines")

	// Without sha, the newest pipeline of the ref is the one: here, failed.
	g = newFakePipelines(states...)
	env = newFakeEnv(t, g, nil)
	_, _, err = checkAndCreate(t, env.server, pipelineURN, pipelineInputs(env.key, env.host, env.port, nil))
	require.ErrorIs(t, err, ErrPipelineNotSucceeded)
	assert.ErrorContains(t, err, "pipeline 12 of root/kubernetes-agent@main failed")
}

func TestPipelineTimesOutWithTheLastStatusAndURL(t *testing.T) {
	t.Parallel()
	g := newFakePipelines(running11)
	env := newFakeEnv(t, g, nil)
	_, _, err := checkAndCreate(t, env.server, pipelineURN, pipelineInputs(env.key, env.host, env.port, map[string]property.Value{"timeout": property.New("5m")}))
	require.ErrorIs(t, err, ErrPipelineNotSucceeded)
	assert.False(t, IsPermanent(err))
	var te *TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 5*time.Minute, te.Timeout)
	assert.Greater(t, te.Attempts, 10)
	assert.ErrorContains(t, err, "reported no successful pipeline of root/kubernetes-agent@main after 5m0s")
	assert.ErrorContains(t, err, "last: running, job deploy-kapsule (pipeline "+fakeWebBase+"/root/kubernetes-agent/-/pipelines/11)")
	assert.ErrorContains(t, err, "raise timeout")
	assert.NotContains(t, err.Error(), patForTests, "the token never appears in messages")
}

func TestPipelineWaitsForAProjectTheTokenCannotSeeYet(t *testing.T) {
	t.Parallel()
	g := newFakePipelines(success11)
	g.project = "root/other"
	env := newFakeEnv(t, g, nil)
	_, _, err := checkAndCreate(t, env.server, pipelineURN, pipelineInputs(env.key, env.host, env.port, map[string]property.Value{"timeout": property.New("1m")}))
	require.ErrorIs(t, err, ErrPipelineNotSucceeded)
	assert.ErrorContains(t, err, "project root/kubernetes-agent is not visible to the token")
	assert.NotContains(t, err.Error(), "(pipeline ", "no pipeline was seen")
}

func TestPipelineStopsOnARefusedToken(t *testing.T) {
	t.Parallel()
	g := newFakePipelines(running11)
	g.token = "glpat-another-token"
	env := newFakeEnv(t, g, nil)
	_, _, err := checkAndCreate(t, env.server, pipelineURN, pipelineInputs(env.key, env.host, env.port, nil))
	require.Error(t, err)
	assert.True(t, IsPermanent(err))
	assert.NotErrorIs(t, err, ErrPipelineNotSucceeded, "a refused token says nothing about the pipeline")
	assert.EqualValues(t, 1, g.requests.Load(), "a refused token is not retried")
	assert.ErrorContains(t, err, "refuses the token (HTTP 401) for the pipelines of root/kubernetes-agent")
	assert.ErrorContains(t, err, "read_api")
	assert.NotContains(t, err.Error(), patForTests)
}

func TestPipelineSucceededCheckNamesBadInputs(t *testing.T) {
	t.Parallel()
	key, _ := newKeyPEM(t)
	got := checkFailures(t, pipelineInputs(key, "10.0.0.10", 80, map[string]property.Value{
		"projectPath": property.New("kubernetes-agent"),
		"ref":         property.New(""),
		"sha":         property.New("e9b5076"),
		"token":       property.New("").WithSecret(true),
	}), pipelineURN)
	assert.ElementsMatch(t, []string{"projectPath", "ref", "sha", "token"}, slices.Collect(maps.Keys(got)))
	assert.Contains(t, got["sha"], "full commit SHA")

	got = checkFailures(t, pipelineInputs(key, "10.0.0.10", 80, map[string]property.Value{"sha": property.New(shaA)}), pipelineURN)
	assert.Empty(t, got)
}

func TestPipelineSucceededDiffReplacesOnNewProjectRefOrCommit(t *testing.T) {
	t.Parallel()
	base := PipelineSucceededArgs{Access: Access{BastionHost: "gw", BastionPort: 61000, PrivateKey: "k", TargetHost: "10.0.0.10"},
		Token: "t", ProjectPath: "root/kubernetes-agent", Ref: "main", Sha: shaA}
	state := PipelineSucceededState{PipelineSucceededArgs: base.withDefaults(), PipelineID: 11, Status: "success"}
	same := base
	same.Timeout, same.TargetPort = DefaultPipelineTimeout, DefaultTargetPort
	testDiffCases(t, &PipelineSucceeded{}, state, base, same, []diffCase[PipelineSucceededArgs]{
		{"new commit", func(a *PipelineSucceededArgs) { a.Sha = shaB }, "sha", p.UpdateReplace},
		{"no commit", func(a *PipelineSucceededArgs) { a.Sha = "" }, "sha", p.UpdateReplace},
		{"new ref", func(a *PipelineSucceededArgs) { a.Ref = "release" }, "ref", p.UpdateReplace},
		{"new project", func(a *PipelineSucceededArgs) { a.ProjectPath = "root/other" }, "projectPath", p.UpdateReplace},
		{"new gitlab", func(a *PipelineSucceededArgs) { a.TargetHost = "10.0.0.11" }, "targetHost", p.UpdateReplace},
		{"new api token", func(a *PipelineSucceededArgs) { a.Token = "t2" }, "token", p.Update},
		{"new bastion", func(a *PipelineSucceededArgs) { a.BastionHost = "gw2" }, "bastionHost", p.Update},
		{"timeout", func(a *PipelineSucceededArgs) { a.Timeout = "1h" }, "timeout", p.Update},
	})
}

// TestPipelineRefresh: asked to recheck, a refresh records the newest
// pipeline of the ref that succeeded; a newer one that failed removes the
// resource (the failure is GitLab's answer, not an error of the refresh),
// so the next up waits again and fails naming the jobs.
func TestPipelineRefresh(t *testing.T) {
	t.Parallel()
	newer := func(status string) []fakePipeline {
		return []fakePipeline{success11[0], {ID: 12, Ref: "main", Sha: shaB, Status: status, FinishedAt: "2026-01-03T00:00:00.000Z",
			Jobs: []fakeJob{{ID: 201, Name: "deploy-kapsule", Stage: "deploy", Status: status}}}}
	}
	for _, tc := range []struct {
		status string
		gone   bool
	}{{"success", false}, {"failed", true}, {"running", true}} {
		t.Run(tc.status, func(t *testing.T) {
			t.Parallel()
			g := newFakePipelines(success11, newer(tc.status))
			env := newFakeEnv(t, g, func(context.Context) bool { return true })
			check, created, err := checkAndCreate(t, env.server, pipelineURN, pipelineInputs(env.key, env.host, env.port, nil))
			require.NoError(t, err)
			read, err := env.server.Read(p.ReadRequest{ID: created.ID, Urn: pipelineURN, Properties: created.Properties, Inputs: check.Inputs})
			require.NoError(t, err, "a pipeline that failed does not fail the refresh")
			assert.EqualValues(t, 2, g.lists.Load())
			if tc.gone {
				assert.Empty(t, read.ID, "not succeeded: the resource is gone, so the next up waits again")
				return
			}
			assert.Equal(t, created.ID, read.ID)
			assert.EqualValues(t, 12, read.Properties.Get("pipelineId").AsNumber(), "the ref's newest successful pipeline")
			assert.Equal(t, shaB, read.Properties.Get("commitSha").AsString())
			assert.Equal(t, created.Properties.Get("bastionHostKeyFingerprint"), read.Properties.Get("bastionHostKeyFingerprint"))
		})
	}
}

func TestPipelineErrorMatchesOnlyItsKind(t *testing.T) {
	t.Parallel()
	err := permanent(&PipelineError{Subject: "root/kubernetes-agent@main", ID: 11, Status: "failed", WebURL: "u"})
	assert.ErrorIs(t, err, ErrPipelineNotSucceeded)
	assert.NotErrorIs(t, err, ErrAgentNotConnected)
	assert.True(t, isFinalAnswer(err))
	assert.False(t, isFinalAnswer(permanent(errors.New("refused key"))))
}

func jobNames(jobs []Job) []string {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	return names
}

package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-go-provider/infer"
)

// PipelineSucceeded asks GitLab's REST API, as GitLab documents it:
//
//   - GET /api/v4/projects/:id/pipelines lists a project's pipelines, filtered
//     by ref and sha, ordered by order_by (default id) and sort (default desc:
//     newest first), 20 a page by default; each item has id, status, ref, sha
//     and web_url, but no finished_at (doc/api/pipelines.md, "List project
//     pipelines", https://docs.gitlab.com/api/pipelines/#list-project-pipelines).
//     Child pipelines are left out unless source=parent_pipeline.
//   - GET /api/v4/projects/:id/pipelines/:pipeline_id gives one pipeline with
//     finished_at (same page, "Get a single pipeline").
//   - GET /api/v4/projects/:id/pipelines/:pipeline_id/jobs lists a pipeline's
//     jobs, newest first, filtered by scope (one status, or an array
//     scope[]=failed&scope[]=canceled); each job has id, name, stage, status,
//     allow_failure, failure_reason and web_url, the job's page, where its log
//     is (doc/api/jobs.md, "List pipeline jobs",
//     https://docs.gitlab.com/api/jobs/#list-pipeline-jobs; the raw log is
//     GET /projects/:id/jobs/:job_id/trace, "Get a log file").
//   - :id may be the project's full path, URL-encoded: root%2Fkubernetes-agent
//     (doc/api/rest/_index.md, "Namespaced paths",
//     https://docs.gitlab.com/api/rest/#namespaced-paths); array parameters
//     are spelt name[]=value ("Array and hash types").
//   - The token goes in the PRIVATE-TOKEN header; a personal access token's
//     scope read_api (read access to the API) or api is enough to read
//     pipelines (doc/user/profile/personal_access_tokens.md, "Personal access
//     token scopes", https://docs.gitlab.com/user/profile/personal_access_tokens/).
//
// The pipeline statuses are those of the list's status filter: created,
// waiting_for_resource, preparing, pending, running, success, failed,
// canceled, skipped, manual and scheduled. GitLab's GraphQL reference
// (enum PipelineStatusEnum, doc/api/graphql/reference/_index.md) describes
// them, and adds canceling and waiting_for_callback. How each ends the wait:
//
//   - success ("Pipeline completed successfully") ends it well.
//   - failed ("At least one stage of the pipeline failed"), canceled ("was
//     canceled before completion") and skipped ("was skipped") are final: the
//     wait stops at once with a PipelineError naming the pipeline and the
//     jobs that failed or were canceled, each with its page (its log).
//   - manual ("Pipeline needs to be manually started") is final too: a
//     pipeline stops at the stage of a blocking manual job (when: manual with
//     allow_failure false, the default inside rules) until a person runs it
//     (doc/ci/jobs/job_control.md, "Types of manual jobs",
//     https://docs.gitlab.com/ci/jobs/job_control/#types-of-manual-jobs), so
//     waiting cannot help: the error names the manual jobs to run. Optional
//     manual jobs (allow_failure true) do not block: such a pipeline succeeds.
//   - Any other status (created, waiting_for_resource, preparing, pending,
//     running, scheduled: a delayed job waits for its timer, canceling,
//     waiting_for_callback, or one GitLab adds later) is not finished yet, and
//     so is no pipeline at all: the wait goes on.

// Defaults of PipelineSucceeded's optional inputs.
const (
	// DefaultPipelineTimeout covers a first pipeline, which pulls its job images.
	DefaultPipelineTimeout = "20m"
	// pipelinesPerPage is how many of the newest pipelines one attempt lists.
	pipelinesPerPage = 20
	// jobsPerPage is how many jobs a failure names at most (the API's maximum).
	jobsPerPage = 100
)

// ErrPipelineNotSucceeded is matched (errors.Is) by the error of a
// PipelineSucceeded wait that ran out of time (a *TimeoutError) and by that of
// a pipeline that finished without succeeding (a *PipelineError).
var ErrPipelineNotSucceeded = errors.New("pipeline not succeeded")

// PipelineSucceeded is the resource that, on create, waits until the newest
// GitLab CI pipeline of a project's ref (and commit, when given) has
// succeeded, asking GitLab's REST API through the Public Gateway's SSH
// bastion. Its Check, Create, Diff, Update and Read are lifecycle's.
type PipelineSucceeded struct {
	lifecycle[PipelineSucceededArgs, PipelineStatus, PipelineSucceededState, *PipelineSucceededState]
}

// PipelineSucceededArgs are PipelineSucceeded's inputs.
type PipelineSucceededArgs struct {
	Access
	// Token is a personal access token that may read the project's pipelines (read_api or api).
	Token string `pulumi:"token" provider:"secret"`
	// ProjectPath is the project's full path, e.g. "root/kubernetes-agent".
	ProjectPath string `pulumi:"projectPath" diff:"replace"`
	// Ref is the branch whose pipeline is waited for.
	Ref string `pulumi:"ref" diff:"replace"`
	// Sha is the commit whose pipeline is waited for; empty means the ref's newest pipeline.
	Sha string `pulumi:"sha,optional" diff:"replace"`
}

// PipelineSucceededState is PipelineSucceeded's state: its inputs and the
// pipeline the wait saw succeed. The pipeline's commit is commitSha: "sha"
// is the input, which stays empty when unset, or every up would replace it.
type PipelineSucceededState struct {
	PipelineSucceededArgs
	// PipelineID is GitLab's id of the pipeline.
	PipelineID int `pulumi:"pipelineId"`
	// WebURL is the pipeline's page.
	WebURL string `pulumi:"webUrl"`
	// Status is the pipeline's status: "success".
	Status string `pulumi:"status"`
	// CommitSha is the commit the pipeline ran for.
	CommitSha string `pulumi:"commitSha"`
	// FinishedAt is when the pipeline finished, as GitLab gave it.
	FinishedAt string `pulumi:"finishedAt"`
	Trusted
}

var (
	_ waitResource[PipelineSucceededArgs, PipelineSucceededState] = (*PipelineSucceeded)(nil)
	_ infer.Annotated                                             = (*PipelineSucceededArgs)(nil)
	_ infer.Annotated                                             = (*PipelineSucceededState)(nil)
)

// Annotate gives the resource its token and description.
func (r *PipelineSucceeded) Annotate(a infer.Annotator) {
	annotateResource(a, r, "PipelineSucceeded", "Waits, when created, until the newest GitLab CI pipeline of a project's ref "+
		"(and commit, when sha is set) has succeeded, asking GitLab's REST API through the Public Gateway's SSH bastion. "+
		"A pipeline that failed, was canceled or skipped, or is blocked on a manual job fails at once, naming its jobs. "+
		replacedBy(replaceKeys[PipelineSucceededArgs]())+".")
}

// Annotate documents PipelineSucceeded's own inputs and sets their defaults.
func (a *PipelineSucceededArgs) Annotate(an infer.Annotator) {
	an.SetDefault(&a.Timeout, DefaultPipelineTimeout)
	an.Describe(&a.Token, "A personal access token that may read the project's pipelines (scope read_api or api).")
	an.Describe(&a.ProjectPath, "The project's full path, e.g. root/kubernetes-agent.")
	an.Describe(&a.Ref, "The branch whose newest pipeline is waited for.")
	an.Describe(&a.Sha, "The commit whose pipeline is waited for (its full SHA): a new commit means waiting again. Unset, the ref's newest pipeline.")
}

// Annotate documents the outputs.
func (s *PipelineSucceededState) Annotate(an infer.Annotator) {
	an.Describe(&s.PipelineID, "GitLab's id of the pipeline that succeeded.")
	an.Describe(&s.WebURL, "The pipeline's page in GitLab.")
	an.Describe(&s.Status, "The pipeline's status, success.")
	an.Describe(&s.CommitSha, "The commit the pipeline ran for.")
	an.Describe(&s.FinishedAt, "When the pipeline finished, as GitLab gave it.")
}

// withDefaults fills the optional inputs that are empty.
func (a PipelineSucceededArgs) withDefaults() PipelineSucceededArgs {
	a.Access = a.Access.withDefaults(DefaultPipelineTimeout)
	return a
}

// commitSHA is a full commit SHA as git prints it: SHA-1 or SHA-256, lowercase.
var commitSHA = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// validate checks every input whose value f says is known.
func (a PipelineSucceededArgs) validate(f *fieldErrors) {
	a.Access.validate(f)
	if a.Token == "" {
		f.add("token", "is empty: pass a personal access token that may read the project's pipelines")
	}
	if a.ProjectPath == "" || strings.HasPrefix(a.ProjectPath, "/") || strings.HasSuffix(a.ProjectPath, "/") || !strings.Contains(a.ProjectPath, "/") {
		f.add("projectPath", "%q is not a project's full path such as root/kubernetes-agent", a.ProjectPath)
	}
	if strings.TrimSpace(a.Ref) == "" {
		f.add("ref", "is empty: pass the branch, e.g. main")
	}
	if a.Sha != "" && !commitSHA.MatchString(a.Sha) {
		f.add("sha", "%q is not a full commit SHA (40 lowercase hex digits, as git rev-parse prints it)", a.Sha)
	}
}

// id is the resource's name, the project and the ref (and commit).
func (a PipelineSucceededArgs) id(name string) string {
	id := name + ":" + a.ProjectPath + "@" + a.Ref
	if a.Sha != "" {
		id += ":" + a.Sha
	}
	return id
}

// subject names what is waited for: "root/kubernetes-agent@main", with the
// commit's first 8 digits when one is given.
func (q pipelineQuery) subject() string {
	s := q.project + "@" + q.ref
	if q.sha != "" {
		s += " (" + q.sha[:8] + ")"
	}
	return s
}

// plan's poller lists the ref's newest pipelines, then asks for what the
// newest one's status calls for.
func (a PipelineSucceededArgs) plan() (plan[PipelineStatus], error) {
	a, err := validInputs("PipelineSucceeded", a)
	if err != nil {
		return plan[PipelineStatus]{}, err
	}
	cfg, err := a.config("/", a.Token)
	if err != nil {
		return plan[PipelineStatus]{}, err
	}
	q := pipelineQuery{base: strings.TrimSuffix(cfg.URL, "/"), project: a.ProjectPath, ref: a.Ref, sha: a.Sha}
	cfg.URL = q.listURL()
	return plan[PipelineStatus]{
		cfg:     cfg,
		poller:  func(s *Session) poller[PipelineStatus] { return s.pipeline(q) },
		subject: "pipeline of " + q.subject(),
		waiting: fmt.Sprintf("pipeline of %s to succeed, asking GitLab at %s", q.subject(), q.base),
		done:    "successful",
	}, nil
}

func (s *PipelineSucceededState) args() *PipelineSucceededArgs { return &s.PipelineSucceededArgs }

func (s *PipelineSucceededState) saw(res Result[PipelineStatus]) {
	st := res.Status
	s.PipelineID, s.WebURL, s.Status, s.CommitSha, s.FinishedAt = st.ID, st.WebURL, st.Status, st.Sha, st.FinishedAt
}

// refreshed records the pipeline a refresh found succeeded: without sha, it
// may be a newer one of the ref.
func (s *PipelineSucceededState) refreshed(res Result[PipelineStatus]) { s.saw(res) }

// PipelineStatus is what one attempt learnt about the ref's newest pipeline.
type PipelineStatus struct {
	// Succeeded is true when the pipeline's status is success.
	Succeeded bool
	// Detail says why the wait goes on: "no pipeline yet", "running, job deploy".
	Detail string
	// ID, WebURL, Status and Sha are the pipeline's, when there is one.
	ID     int
	WebURL string
	Status string
	Sha    string
	// FinishedAt is when a pipeline that succeeded finished.
	FinishedAt string
}

func (st PipelineStatus) verdict() (bool, string) { return st.Succeeded, st.Detail }

func (st PipelineStatus) summary() string {
	return fmt.Sprintf("pipeline %d %s, finished %s", st.ID, st.WebURL, st.FinishedAt)
}

// Job is a job of a pipeline, as GitLab's jobs API lists it.
type Job struct {
	ID            int    `json:"id"`
	Name          string `json:"name"`
	Stage         string `json:"stage"`
	Status        string `json:"status"`
	WebURL        string `json:"web_url"`
	AllowFailure  bool   `json:"allow_failure"`
	FailureReason string `json:"failure_reason"`
}

// PipelineError is a pipeline that finished without succeeding (failed,
// canceled, skipped) or is blocked on a manual job: waiting cannot help. It
// matches ErrPipelineNotSucceeded.
type PipelineError struct {
	// Subject is what was waited for: "root/kubernetes-agent@main".
	Subject string
	// ID, Status, WebURL and Sha are the pipeline's.
	ID     int
	Status string
	WebURL string
	Sha    string
	// Jobs are the jobs to blame: failed (those allowed to fail only when
	// no other failed), canceled, or manual ones that block.
	Jobs []Job
	// JobsUnknown says why the jobs could not be listed, or "".
	JobsUnknown string
}

func (e *PipelineError) finalAnswer() {}

// Is makes errors.Is(err, ErrPipelineNotSucceeded) true.
func (e *PipelineError) Is(target error) bool { return target == ErrPipelineNotSucceeded }

// Error names the pipeline, its page, each job to blame with its page, where
// its log is, and what to do.
func (e *PipelineError) Error() string {
	var b strings.Builder
	what, todo := "failed", "fix what the job logs show and push (or retry the jobs in GitLab), then run up again"
	switch e.Status {
	case "canceled":
		what, todo = "was canceled", "run a new pipeline for the ref (or retry it in GitLab), then run up again"
	case "skipped":
		what, todo = "was skipped: no job ran (the rules excluded every job, or the push asked to skip CI)",
			"check .gitlab-ci.yml's rules, push again, then run up again"
	case "manual":
		what, todo = "is blocked on a manual job (status manual)",
			"run the job in GitLab, or give it allow_failure: true so that it does not block, then run up again"
	}
	fmt.Fprintf(&b, "pipeline %d of %s %s: %s", e.ID, e.Subject, what, e.WebURL)
	if len(e.Jobs) > 0 {
		b.WriteString("; ")
		for i, j := range e.Jobs {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(j.describe())
		}
	}
	if e.JobsUnknown != "" {
		b.WriteString("; its jobs could not be listed: " + e.JobsUnknown)
	}
	b.WriteString(": " + todo)
	return b.String()
}

// describe is a job as a failure names it: "job deploy (stage deploy, failed:
// script_failure), log at https://.../-/jobs/7".
func (j Job) describe() string {
	status := j.Status
	if j.FailureReason != "" {
		status += ": " + j.FailureReason
	}
	if j.AllowFailure && j.Status == "failed" {
		status += ", allowed to fail"
	}
	where := "log at " + j.WebURL
	if j.Status == "manual" {
		where = "run it at " + j.WebURL
	}
	return fmt.Sprintf("job %s (stage %s, %s), %s", j.Name, j.Stage, status, where)
}

// pipelineQuery is what PipelineSucceeded asks GitLab about.
type pipelineQuery struct {
	// base is GitLab's root URL as the bastion reaches it, e.g. http://10.0.0.10:80.
	base     string
	project  string
	ref, sha string
}

// projectURL is the project's REST path, its full path URL-encoded.
func (q pipelineQuery) projectURL() string {
	return q.base + "/api/v4/projects/" + url.PathEscape(q.project)
}

// listURL lists the ref's (and commit's) newest pipelines, newest first.
func (q pipelineQuery) listURL() string {
	v := url.Values{"ref": {q.ref}, "order_by": {"id"}, "sort": {"desc"}, "per_page": {strconv.Itoa(pipelinesPerPage)}}
	if q.sha != "" {
		v.Set("sha", q.sha)
	}
	return q.projectURL() + "/pipelines?" + v.Encode()
}

// pipelineURL is one pipeline.
func (q pipelineQuery) pipelineURL(id int) string {
	return q.projectURL() + "/pipelines/" + strconv.Itoa(id)
}

// jobsURL lists a pipeline's jobs of the given statuses.
func (q pipelineQuery) jobsURL(id int, scopes ...string) string {
	v := url.Values{"scope[]": scopes, "per_page": {strconv.Itoa(jobsPerPage)}}
	return q.pipelineURL(id) + "/jobs?" + v.Encode()
}

// pipeline is PipelineSucceeded's poller: one pollPipeline an attempt. It
// remembers the last pipeline seen, for the timeout's error.
func (s *Session) pipeline(q pipelineQuery) poller[PipelineStatus] {
	var lastURL string
	return poller[PipelineStatus]{
		progress: "pipeline of " + q.subject(),
		stopped:  "the pipeline of " + q.subject(),
		ask: func(ctx context.Context) (PipelineStatus, error) {
			st, err := s.pollPipeline(ctx, q)
			if st.WebURL != "" {
				lastURL = st.WebURL
			}
			return st, err
		},
		timedOut: TimeoutError{
			Kind: ErrPipelineNotSucceeded,
			What: "reported no successful pipeline of " + q.subject(),
			Hint: "look at the pipeline's jobs and at the runner (registered, online, pulling the job images)",
		},
		seen: func() string {
			if lastURL == "" {
				return ""
			}
			return "pipeline " + lastURL
		},
	}
}

// apiPipeline is a pipeline as GitLab's pipelines API gives it.
type apiPipeline struct {
	ID         int    `json:"id"`
	Status     string `json:"status"`
	Ref        string `json:"ref"`
	Sha        string `json:"sha"`
	WebURL     string `json:"web_url"`
	FinishedAt string `json:"finished_at"`
}

// pollPipeline lists the ref's newest pipelines and judges the newest one of
// the ref (and commit): success asks for the pipeline itself (its
// finished_at); running and pending ask which jobs run, for the progress
// line; a final status asks which jobs to blame and returns a permanent
// *PipelineError. An error means there was no HTTP answer, or the token was
// refused (permanent).
func (s *Session) pollPipeline(ctx context.Context, q pipelineQuery) (PipelineStatus, error) {
	code, body, err := s.get(ctx, q.listURL())
	if err != nil {
		return PipelineStatus{}, err
	}
	if err := s.refused(code, q); err != nil {
		return PipelineStatus{}, err
	}
	switch {
	case code == http.StatusNotFound:
		return PipelineStatus{Detail: fmt.Sprintf("project %s is not visible to the token (not created yet, or not readable)", q.project)}, nil
	case code != http.StatusOK:
		return PipelineStatus{Detail: fmt.Sprintf("the pipelines API answers HTTP %d", code)}, nil
	}
	var list []apiPipeline
	if json.Unmarshal(body, &list) != nil {
		return PipelineStatus{Detail: "the pipelines API answered without a JSON list"}, nil
	}
	var p *apiPipeline
	for i := range list {
		// GitLab filters by ref and sha already; an answer that did not is
		// not taken for the pipeline waited for.
		if list[i].Ref == q.ref && (q.sha == "" || list[i].Sha == q.sha) {
			p = &list[i]
			break
		}
	}
	if p == nil {
		return PipelineStatus{Detail: "no pipeline yet"}, nil
	}
	st := PipelineStatus{ID: p.ID, WebURL: p.WebURL, Status: p.Status, Sha: p.Sha, Detail: p.Status}
	switch p.Status {
	case "success":
		return s.succeeded(ctx, q, st)
	case "failed":
		return st, s.notSucceeded(ctx, q, st, "failed")
	case "canceled":
		return st, s.notSucceeded(ctx, q, st, "canceled", "failed")
	case "manual":
		return st, s.notSucceeded(ctx, q, st, "manual")
	case "skipped":
		return st, permanent(&PipelineError{Subject: q.subject(), ID: p.ID, Status: p.Status, WebURL: p.WebURL, Sha: p.Sha})
	case "running", "pending":
		st.Detail += s.activeJobs(ctx, q, p.ID)
	}
	return st, nil
}

// succeeded completes a pipeline that succeeded with its finished_at, which
// the list does not give.
func (s *Session) succeeded(ctx context.Context, q pipelineQuery, st PipelineStatus) (PipelineStatus, error) {
	code, body, err := s.get(ctx, q.pipelineURL(st.ID))
	if err != nil {
		return PipelineStatus{}, err
	}
	if err := s.refused(code, q); err != nil {
		return PipelineStatus{}, err
	}
	var p apiPipeline
	if code != http.StatusOK || json.Unmarshal(body, &p) != nil || p.ID != st.ID {
		st.Detail = fmt.Sprintf("success, but reading pipeline %d answers HTTP %d", st.ID, code)
		return st, nil
	}
	st.Succeeded, st.Detail, st.FinishedAt = true, "", p.FinishedAt
	return st, nil
}

// notSucceeded is the permanent error of a pipeline with a final status,
// naming its jobs of the given statuses. Without an HTTP answer for the jobs
// the attempt fails (and the next one asks again); with another answer than
// 200 the error says so instead of naming them.
func (s *Session) notSucceeded(ctx context.Context, q pipelineQuery, st PipelineStatus, scopes ...string) error {
	pe := &PipelineError{Subject: q.subject(), ID: st.ID, Status: st.Status, WebURL: st.WebURL, Sha: st.Sha}
	jobs, why, err := s.jobs(ctx, q, st.ID, scopes...)
	if err != nil {
		return err
	}
	pe.JobsUnknown = why
	// The jobs allowed to fail did not fail the pipeline: name them only when
	// there is no other.
	for _, j := range jobs {
		if !(j.AllowFailure && j.Status == "failed") {
			pe.Jobs = append(pe.Jobs, j)
		}
	}
	if len(pe.Jobs) == 0 {
		pe.Jobs = jobs
	}
	return permanent(pe)
}

// activeJobs names the jobs of a running or pending pipeline for its
// progress line: ", job deploy-kapsule", or "" when they cannot be listed.
func (s *Session) activeJobs(ctx context.Context, q pipelineQuery, id int) string {
	jobs, why, err := s.jobs(ctx, q, id, "running", "pending")
	if err != nil || why != "" || len(jobs) == 0 {
		return ""
	}
	// Running jobs first: they are what the pipeline waits for.
	var running, pending []string
	for _, j := range jobs {
		if j.Status == "running" {
			running = append(running, j.Name)
		} else {
			pending = append(pending, j.Name+" (pending)")
		}
	}
	names := append(running, pending...)
	const most = 3
	more := ""
	if len(names) > most {
		more = fmt.Sprintf(" and %d more", len(names)-most)
		names = names[:most]
	}
	word := "job"
	if len(names) > 1 {
		word = "jobs"
	}
	return ", " + word + " " + strings.Join(names, ", ") + more
}

// jobs lists a pipeline's jobs of the given statuses, newest first. why says
// what GitLab answered instead of a list; err means no HTTP answer.
func (s *Session) jobs(ctx context.Context, q pipelineQuery, id int, scopes ...string) (jobs []Job, why string, err error) {
	code, body, err := s.get(ctx, q.jobsURL(id, scopes...))
	if err != nil {
		return nil, "", err
	}
	if err := s.refused(code, q); err != nil {
		return nil, "", err
	}
	if code != http.StatusOK {
		return nil, fmt.Sprintf("HTTP %d", code), nil
	}
	if json.Unmarshal(body, &jobs) != nil {
		return nil, "an answer without a JSON list", nil
	}
	return jobs, "", nil
}

// get makes one REST request with the token.
func (s *Session) get(ctx context.Context, target string) (int, []byte, error) {
	return s.request(ctx, http.MethodGet, target, nil, credential{"PRIVATE-TOKEN", s.cfg.Token})
}

// refused is the permanent error of a token GitLab refuses, or nil.
func (s *Session) refused(code int, q pipelineQuery) error {
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		return permanent(fmt.Errorf("GitLab at %s refuses the token (HTTP %d) for the pipelines of %s: "+
			"pass a personal access token with scope read_api or api that may read the project", s.host, code, q.project))
	}
	return nil
}

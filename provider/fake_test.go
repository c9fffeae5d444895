package provider

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
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

	"golang.org/x/crypto/ssh"
)

// fakeBastion is an in-process SSH server on loopback that forwards
// direct-tcpip channels to loopback: the unit tests' DialSSHFunc.
type fakeBastion struct {
	t          testing.TB
	ln         net.Listener
	hostSigner ssh.Signer
	authorized ssh.PublicKey
	dials      atomic.Int32
	dialErr    error // when set, every dial fails with it
}

func newFakeBastion(t testing.TB, clientKey ssh.Signer) *fakeBastion {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	f := &fakeBastion{t: t, ln: ln, hostSigner: newSigner(t), authorized: clientKey.PublicKey()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeBastion) Dial(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	f.dials.Add(1)
	if f.dialErr != nil {
		return nil, f.dialErr
	}
	// The production dialer, pointed at the fake whatever addr says.
	return DialSSH(ctx, f.ln.Addr().String(), cfg)
}

func (f *fakeBastion) serve(nc net.Conn) {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), f.authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(f.hostSigner)
	conn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "direct-tcpip" {
			_ = nch.Reject(ssh.UnknownChannelType, "only direct-tcpip")
			continue
		}
		var target struct {
			Host     string
			Port     uint32
			OrigHost string
			OrigPort uint32
		}
		if err := ssh.Unmarshal(nch.ExtraData(), &target); err != nil {
			_ = nch.Reject(ssh.ConnectionFailed, "bad request")
			continue
		}
		up, err := net.Dial("tcp", net.JoinHostPort(target.Host, strconv.Itoa(int(target.Port))))
		if err != nil {
			_ = nch.Reject(ssh.ConnectionFailed, "Connection refused")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			_ = up.Close()
			continue
		}
		go ssh.DiscardRequests(creqs)
		go func() {
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, ch); _ = up.(*net.TCPConn).CloseWrite() }()
			go func() { defer wg.Done(); _, _ = io.Copy(ch, up); _ = ch.CloseWrite() }()
			wg.Wait()
			_ = ch.Close()
			_ = up.Close()
		}()
	}
}

// fakeClock advances only when slept on, so long waits take no time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newKeyPEM returns an ED25519 key as OpenSSH PEM (what pulumi-tls gives) and its signer.
func newKeyPEM(t testing.TB) (string, ssh.Signer) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(key, "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), s
}

// schedule is a GitLab stand-in that answers the given statuses in turn,
// repeating the last one; 200 comes with a readiness body.
type schedule struct {
	codes []int
	n     atomic.Int32
}

func (s *schedule) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(s.n.Add(1)) - 1
	code := s.codes[min(i, len(s.codes)-1)]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if code == http.StatusOK {
		_, _ = io.WriteString(w, `{"status":"ok","master_check":[{"status":"ok"}],"db_check":[{"status":"ok"}]}`)
	}
}

// startGitLab serves h on loopback and returns its host and port.
func startGitLab(t testing.TB, h http.Handler) (string, int) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

// fakePipelines is a GitLab stand-in for PipelineSucceeded: it serves the
// REST endpoints the resource asks, as GitLab documents them.
//
//   - GET /api/v4/projects/:id/pipelines (doc/api/pipelines.md, "List project
//     pipelines", https://docs.gitlab.com/api/pipelines/#list-project-pipelines):
//     filtered by ref and sha, ordered by order_by=id (the default) and sort
//     (default desc, newest first), per_page items (default 20, at most 100);
//     each item has id, iid, project_id, status, source, ref, sha, web_url,
//     created_at and updated_at, and no finished_at.
//   - GET /api/v4/projects/:id/pipelines/:pipeline_id (same page, "Get a
//     single pipeline"): the pipeline with finished_at.
//   - GET /api/v4/projects/:id/pipelines/:pipeline_id/jobs (doc/api/jobs.md,
//     "List pipeline jobs", https://docs.gitlab.com/api/jobs/#list-pipeline-jobs):
//     newest first, filtered by scope, one status or an array (scope[]=a&scope[]=b),
//     every job when there is none.
//
// :id must be the project's full path URL-encoded (root%2Fkubernetes-agent,
// doc/api/rest/_index.md "Namespaced paths"): unencoded, GitLab matches no
// endpoint and answers 404, and so does the fake. A request without the
// token gets 401, as GitLab answers a missing or wrong PRIVATE-TOKEN.
//
// The pipelines change as GitLab's would while CI runs: the n-th list
// request sees states[n-1] (the last one repeating), and the other
// endpoints see what the last list request saw.
type fakePipelines struct {
	project string
	token   string
	states  [][]fakePipeline
	// lists counts the list requests (one an attempt); requests counts all.
	lists    atomic.Int32
	requests atomic.Int32

	mu    sync.Mutex
	state []fakePipeline
	// asked records each request's path and query, escaped as sent.
	asked []string
}

// fakePipeline is one pipeline of fakePipelines; Jobs are in creation order.
type fakePipeline struct {
	ID         int
	Ref, Sha   string
	Status     string
	FinishedAt string
	Jobs       []fakeJob
}

// fakeJob is one job of a fakePipeline.
type fakeJob struct {
	ID                  int
	Name, Stage, Status string
	AllowFailure        bool
	FailureReason       string
}

// fakeWebBase is the fake's external_url: GitLab builds web_url from it.
const fakeWebBase = "https://gitlab.internal"

func newFakePipelines(states ...[]fakePipeline) *fakePipelines {
	return &fakePipelines{project: "root/kubernetes-agent", token: patForTests, states: states}
}

func (f *fakePipelines) pipelineWebURL(id int) string {
	return fmt.Sprintf("%s/%s/-/pipelines/%d", fakeWebBase, f.project, id)
}

func (f *fakePipelines) jobWebURL(id int) string {
	return fmt.Sprintf("%s/%s/-/jobs/%d", fakeWebBase, f.project, id)
}

func (f *fakePipelines) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, r.URL.RequestURI())
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("PRIVATE-TOKEN") != f.token {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message":"401 Unauthorized"}`)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v4/projects/"+url.PathEscape(f.project)+"/pipelines")
	if r.Method != http.MethodGet || !ok {
		notFound(w)
		return
	}
	q := r.URL.Query()
	if rest == "" {
		f.state = f.states[min(int(f.lists.Add(1)), len(f.states))-1]
		f.list(w, q)
		return
	}
	idText, jobs := strings.CutSuffix(strings.TrimPrefix(rest, "/"), "/jobs")
	id, err := strconv.Atoi(idText)
	var p *fakePipeline
	for i := range f.state {
		if err == nil && f.state[i].ID == id {
			p = &f.state[i]
		}
	}
	switch {
	case p == nil:
		notFound(w)
	case jobs:
		f.listJobs(w, *p, q)
	default:
		writeJSON(w, f.single(*p))
	}
}

func (f *fakePipelines) list(w http.ResponseWriter, q url.Values) {
	var out []map[string]any
	for _, p := range f.state {
		if (q.Has("ref") && p.Ref != q.Get("ref")) || (q.Has("sha") && p.Sha != q.Get("sha")) {
			continue
		}
		out = append(out, f.basic(p))
	}
	if by := q.Get("order_by"); by != "" && by != "id" {
		http.Error(w, `{"error":"the fake orders by id only"}`, http.StatusBadRequest)
		return
	}
	// Pipelines are in creation order, so by id ascending: desc reverses.
	if q.Get("sort") != "asc" {
		slices.Reverse(out)
	}
	perPage := 20
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, 100)
	}
	writeJSON(w, out[:min(perPage, len(out))])
}

func (f *fakePipelines) basic(p fakePipeline) map[string]any {
	return map[string]any{
		"id": p.ID, "iid": p.ID, "project_id": 7, "status": p.Status, "source": "push",
		"ref": p.Ref, "sha": p.Sha, "web_url": f.pipelineWebURL(p.ID),
		"created_at": "2026-01-02T03:00:00.000Z", "updated_at": "2026-01-02T03:10:00.000Z",
	}
}

func (f *fakePipelines) single(p fakePipeline) map[string]any {
	m := f.basic(p)
	m["finished_at"] = nil
	if p.FinishedAt != "" {
		m["finished_at"] = p.FinishedAt
	}
	m["before_sha"], m["tag"], m["duration"] = "0000000000000000000000000000000000000000", false, 34
	return m
}

func (f *fakePipelines) listJobs(w http.ResponseWriter, p fakePipeline, q url.Values) {
	scopes := append(q["scope[]"], q["scope"]...)
	out := []map[string]any{}
	for i := len(p.Jobs) - 1; i >= 0; i-- {
		j := p.Jobs[i]
		if len(scopes) > 0 && !slices.Contains(scopes, j.Status) {
			continue
		}
		var reason any
		if j.FailureReason != "" {
			reason = j.FailureReason
		}
		out = append(out, map[string]any{
			"id": j.ID, "name": j.Name, "stage": j.Stage, "status": j.Status, "ref": p.Ref,
			"allow_failure": j.AllowFailure, "failure_reason": reason, "web_url": f.jobWebURL(j.ID),
			"pipeline": map[string]any{"id": p.ID, "project_id": 7, "ref": p.Ref, "sha": p.Sha, "status": p.Status},
		})
	}
	writeJSON(w, out)
}

// sent returns the requests made so far, path and query as sent.
func (f *fakePipelines) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

func notFound(w http.ResponseWriter) {
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, `{"message":"404 Not Found"}`)
}

func writeJSON(w http.ResponseWriter, v any) {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

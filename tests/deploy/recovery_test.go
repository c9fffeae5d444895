package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi-gitlab/sdk/v6/go/gitlab"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/block"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/instance"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/cleanup"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/tunnel"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// gitlabStandInName is the name the engine starts the GitLab provider's
// plugin under; this test binary serves the stand-in when started so.
const gitlabStandInName = "pulumi-resource-gitlab"

// init serves the GitLab provider stand-in when the engine starts this
// test binary as pulumi-resource-gitlab (installed so by installGitLabStandIn).
func init() {
	if filepath.Base(os.Args[0]) != gitlabStandInName {
		return
	}
	if err := p.RunProvider(context.Background(), "gitlab", plugins.All()["gitlab"].Version, gitlabStandIn()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// gitlabStandIn stands in for pulumi-resource-gitlab (v6.11.0, bridged
// from terraform-provider-gitlab): each create, read and delete is a call
// to GitLab's API at the provider's baseUrl, which fails when GitLab does
// not answer, and with earlyAuthCheck set its Configure asks GitLab for the
// token's user first (the field's documentation in pulumi-gitlab v6.11.0
// sdk/go/gitlab/provider.go: a request for the current user that checks the
// settings and that the API answers). It mimics nothing else.
func gitlabStandIn() p.Provider {
	var baseURL atomic.Value
	call := func(ctx context.Context, what, path string) error {
		base, _ := baseURL.Load().(string)
		if base == "" {
			return fmt.Errorf("gitlab stand-in: %s: the provider has no baseUrl", what)
		}
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("gitlab stand-in: %s: GET %s%s: %w", what, base, path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("gitlab stand-in: %s: GET %s%s: HTTP %d", what, base, path, resp.StatusCode)
		}
		return nil
	}
	return p.Provider{
		Configure: func(ctx context.Context, req p.ConfigureRequest) error {
			if v, ok := req.Args.GetOk("baseUrl"); ok && v.IsString() {
				baseURL.Store(v.AsString())
			}
			if v, ok := req.Args.GetOk("earlyAuthCheck"); ok && v.IsBool() && v.AsBool() {
				return call(ctx, "early auth check", "user")
			}
			return nil
		},
		Check: func(_ context.Context, req p.CheckRequest) (p.CheckResponse, error) {
			return p.CheckResponse{Inputs: req.Inputs}, nil
		},
		Diff: func(context.Context, p.DiffRequest) (p.DiffResponse, error) { return p.DiffResponse{}, nil },
		Create: func(ctx context.Context, req p.CreateRequest) (p.CreateResponse, error) {
			if req.DryRun {
				return p.CreateResponse{Properties: req.Properties}, nil
			}
			if err := call(ctx, "create "+req.Urn.Name(), "projects"); err != nil {
				return p.CreateResponse{}, err
			}
			return p.CreateResponse{ID: "42", Properties: req.Properties.Set("id", property.New("42"))}, nil
		},
		Read: func(ctx context.Context, req p.ReadRequest) (p.ReadResponse, error) {
			if err := call(ctx, "read "+req.Urn.Name(), "projects/"+req.ID); err != nil {
				return p.ReadResponse{}, err
			}
			return p.ReadResponse{ID: req.ID, Properties: req.Properties, Inputs: req.Inputs}, nil
		},
		Delete: func(ctx context.Context, req p.DeleteRequest) error {
			return call(ctx, "delete "+req.Urn.Name(), "projects/"+req.ID)
		},
	}
}

// installGitLabStandIn installs this test binary as the GitLab provider's
// plugin into the engine's PULUMI_HOME.
func installGitLabStandIn(t *testing.T, eng *harness.Engine) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	bin := filepath.Join(dir, gitlabStandInName)
	require.NoError(t, os.Symlink(self, bin))
	eng.InstallPlugin(t, "resource", "gitlab", "v"+plugins.All()["gitlab"].Version, bin)
}

// gitlabServer is a loopback GitLab stand-in answering every request
// ready (200, a readiness body); Stop makes it stop answering.
type gitlabServer struct {
	srv  *httptest.Server
	host string
	port int
}

func startGitLab(t *testing.T) *gitlabServer {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"status":"ok","version":"18.5.1","master_check":[{"status":"ok"}]}`)
	}))
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return &gitlabServer{srv: srv, host: host, port: n}
}

func (g *gitlabServer) Stop() {
	g.srv.CloseClientConnections()
	g.srv.Close()
}

// gitlabSideProgram is the shape of the program's GitLab side: the
// readiness wait through the bastion, the program's own tunnel
// (tunnel.Shared, released with internal/cleanup) opened once GitLab is
// ready, the GitLab provider on its loopback end with earlyAuthCheck, as
// components/agent.go sets it, and one GitLab resource.
func gitlabSideProgram(b *harness.Bastion, g *gitlabServer, tunnelPort int) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		if err := plugins.Pin(ctx); err != nil {
			return err
		}
		ready, err := gitlabwait.NewGitLabReady(ctx, "gitlab-ready", &gitlabwait.GitLabReadyArgs{
			Access: b.Access(g.host, g.port, time.Minute, 300*time.Millisecond),
		})
		if err != nil {
			return err
		}
		apiURL := ready.ReadyAt.ApplyT(func(string) (string, error) {
			tun, err := tunnel.Shared(tunnel.Config{
				LocalPort: tunnelPort, BastionAddr: b.Addr(), BastionUser: b.User, PrivateKey: b.PrivateKey,
				Target: net.JoinHostPort(g.host, strconv.Itoa(g.port)),
			})
			if err != nil {
				return "", err
			}
			cleanup.Register(ctx, tun.Close)
			return "http://" + tun.Addr() + "/api/v4/", nil
		}).(pulumi.StringOutput)
		gl, err := gitlab.NewProvider(ctx, "agent-gitlab", &gitlab.ProviderArgs{
			BaseUrl: apiURL, Token: pulumi.String("glpat-stand-in"), EarlyAuthCheck: pulumi.Bool(true),
		})
		if err != nil {
			return err
		}
		_, err = gitlab.NewProject(ctx, "agent-project", &gitlab.ProjectArgs{Name: pulumi.String("kubernetes-agent")}, pulumi.Provider(gl))
		return err
	}
}

// stateTypes returns the types of the resources in the stack's state.
func stateTypes(t *testing.T, s *deploy.Stack) []string {
	t.Helper()
	d, err := s.Auto().Export(t.Context())
	require.NoError(t, err)
	var dep struct {
		Resources []struct {
			Type string `json:"type"`
		} `json:"resources"`
	}
	require.NoError(t, json.Unmarshal(d.Deployment, &dep))
	var types []string
	for _, r := range dep.Resources {
		types = append(types, r.Type)
	}
	return types
}

// TestDestroyAndRefreshWithGitLabGone: a stack whose GitLab stopped
// answering, then whose bastion stopped too, through the real engine, the
// command's readiness provider, a real sshd bastion and a GitLab provider
// stand-in that fails without GitLab. Without the recovery (the control,
// a second stack destroyed by the Automation API directly) the destroy
// fails. With it, refresh skips the GitLab side, naming each resource,
// and keeps it; destroy removes it from the state, says so, and destroys
// the rest.
func TestDestroyAndRefreshWithGitLabGone(t *testing.T) {
	eng := harness.NewEngine(t)
	installGitLabStandIn(t, eng)
	b := harness.StartBastion(t)
	g := startGitLab(t)
	program := gitlabSideProgram(b, g, harness.FreePort(t))

	var log syncBuffer
	s, err := deploy.Open(t.Context(), options(t, eng, "gone", program, &log))
	require.NoError(t, err)
	defer s.Close()
	control, err := deploy.Open(t.Context(), options(t, eng, "control", program, &log))
	require.NoError(t, err)
	defer control.Close()
	for _, st := range []*deploy.Stack{s, control} {
		up, err := st.Up(t.Context())
		require.NoError(t, err, log.String())
		assert.Equal(t, map[string]int{"create": 4}, harness.Changed(up.Summary), "stack, wait, provider, project")
	}

	g.Stop()
	_, err = control.Auto().Refresh(t.Context(), optrefresh.RunProgram(true))
	require.Error(t, err, "without the recovery the GitLab side cannot be refreshed")
	assert.Contains(t, err.Error(), "gitlab stand-in: ")
	_, err = control.Auto().Destroy(t.Context(), optdestroy.RunProgram(true))
	require.Error(t, err, "without the recovery the GitLab side cannot be destroyed")
	assert.Contains(t, err.Error(), "gitlab stand-in: ")

	log.Reset()
	ref, err := s.Refresh(t.Context())
	require.NoError(t, err, log.String())
	assert.Contains(t, log.String(), "notice: GitLab is unreachable (GitLab does not answer behind the bastion: ")
	assert.Contains(t, log.String(), "refresh skips its 2 resources, which keep their last recorded state")
	assert.Contains(t, log.String(), "gitlab:index/project:Project::agent-project")
	assert.NotContains(t, log.String(), "gitlab stand-in: ", "nothing asked GitLab")
	// The one change: the GitLab provider's settings, its early auth
	// check off (deploy's destroyTransform); the next up turns it on again.
	assert.Equal(t, map[string]int{"update": 1}, harness.Changed(ref.Summary))
	assert.Contains(t, log.String(), "pulumi:providers:gitlab agent-gitlab updated")
	assert.Contains(t, log.String(), "[diff: ~earlyAuthCheck]")
	assert.Contains(t, stateTypes(t, s), "gitlab:index/project:Project", "refresh keeps what it skipped")

	b.Stop(t)
	log.Reset()
	des, err := s.Destroy(t.Context())
	require.NoError(t, err, log.String())
	assert.Contains(t, log.String(), "notice: GitLab is unreachable (the bastion does not answer: ")
	assert.Contains(t, log.String(), "destroy removes its 2 resources from the stack without deleting them there")
	assert.Contains(t, log.String(), "gitlabwait:index:GitLabReady::gitlab-ready")
	assert.Empty(t, stateTypes(t, s), "everything else was destroyed")
	assert.Equal(t, map[string]int{"delete": 2}, harness.Changed(des.Summary), "the rest, the provider and the stack, was deleted")
}

// replaceableServer is an engine with the Scaleway stand-in
// (tests/standin/scaleway) and a program of one GitLab server whose
// replacement trigger is the generation set last, "1" at first: a new one
// makes the next up replace the server.
func replaceableServer(t *testing.T) (*harness.Engine, pulumi.RunFunc, func(generation string)) {
	t.Helper()
	eng := harness.NewEngine(t)
	eng.InstallPlugin(t, "resource", "scaleway", "v"+plugins.All()["scaleway"].Version, harness.ScalewayStandInPlugin(t))
	var generation atomic.Value
	generation.Store("1")
	program := func(ctx *pulumi.Context) error {
		if err := plugins.Pin(ctx); err != nil {
			return err
		}
		_, err := instance.NewServer(ctx, "gitlab-server", &instance.ServerArgs{
			Zone: pulumi.String("fr-par-1"), Type: pulumi.String("PRO2-XS"), Image: pulumi.String("ubuntu_noble"),
		}, pulumi.ReplacementTrigger(pulumi.String(generation.Load().(string))))
		return err
	}
	return eng, program, func(g string) { generation.Store(g) }
}

// TestUpRefusesToReplaceGuardedResources: through the real engine and the
// Scaleway stand-in (tests/standin/scaleway), an up whose preview replaces
// the GitLab server (a changed replacement trigger) is refused before
// anything changes, naming the server and the flag; with AllowReplace
// the same up replaces it.
func TestUpRefusesToReplaceGuardedResources(t *testing.T) {
	eng, program, setGeneration := replaceableServer(t)
	var log syncBuffer
	opts := options(t, eng, "guard", program, &log)
	s, err := deploy.Open(t.Context(), opts)
	require.NoError(t, err)
	defer s.Close()
	up, err := s.Up(t.Context())
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"create": 2}, harness.Changed(up.Summary))

	setGeneration("2")
	log.Reset()
	pre, err := s.Preview(t.Context())
	require.NoError(t, err, log.String())
	assert.Equal(t, 1, pre.ChangeSummary["replace"])
	assert.Contains(t, log.String(), "warning: up refuses this update unless confirmed:\n  scaleway:instance/server:Server \"gitlab-server\"",
		"the preview names what up refuses")
	_, err = s.Up(t.Context())
	require.Error(t, err)
	assert.True(t, errors.Is(err, deploy.ErrReplaceRefused), "%v", err)
	re, ok := errors.AsType[*deploy.ReplaceError](err)
	require.True(t, ok, "%T", err)
	require.Len(t, re.Replacements, 1)
	assert.Equal(t, "scaleway:instance/server:Server", re.Replacements[0].Type)
	assert.Equal(t, "urn:pulumi:guard::"+testProject+"::scaleway:instance/server:Server::gitlab-server", re.Replacements[0].URN)
	assert.Contains(t, err.Error(), "--allow-replace")
	assert.Contains(t, err.Error(), "comes back on its data volume")
	history, err := s.Auto().History(t.Context(), 10, 1)
	require.NoError(t, err)
	assert.Len(t, history, 1, "the refused up changed nothing: %+v", history)

	opts.AllowReplace = true
	allowed, err := deploy.Open(t.Context(), opts)
	require.NoError(t, err)
	defer allowed.Close()
	up, err = allowed.Up(t.Context())
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"replace": 1}, harness.Changed(up.Summary))
	_, err = allowed.Destroy(t.Context())
	require.NoError(t, err, log.String())
}

// TestUpRunsBeforeReplaceFirst: through the real engine and the Scaleway
// stand-in, with AllowReplace and a BeforeReplace hook. A first up (nothing
// guarded in the state yet) and an up that replaces nothing guarded do not
// call it. An up whose preview replaces the GitLab server calls it once
// with the server, before the update (the stack's history has not grown
// yet); its error stops the up with nothing changed (no update in the
// history, the error names the server and wraps the hook's); once it
// succeeds the same up replaces the server.
func TestUpRunsBeforeReplaceFirst(t *testing.T) {
	eng, program, setGeneration := replaceableServer(t)
	var log syncBuffer
	opts := options(t, eng, "before", program, &log)
	opts.AllowReplace = true
	var (
		s     *deploy.Stack
		calls [][]deploy.Replacement
		// updatesSeen is the stack's number of updates when the hook ran.
		updatesSeen []int
		hookErr     error
	)
	updates := func() int {
		history, err := s.Auto().History(t.Context(), 100, 1)
		require.NoError(t, err)
		return len(history)
	}
	opts.BeforeReplace = func(_ context.Context, rs []deploy.Replacement) error {
		calls = append(calls, rs)
		updatesSeen = append(updatesSeen, updates())
		return hookErr
	}
	s, err := deploy.Open(t.Context(), opts)
	require.NoError(t, err)
	defer s.Close()
	up, err := s.Up(t.Context())
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"create": 2}, harness.Changed(up.Summary))
	_, err = s.Up(t.Context())
	require.NoError(t, err, log.String())
	assert.Empty(t, calls, "a first up and one that replaces nothing do not call the hook")
	assert.Equal(t, 2, updates())

	setGeneration("2")
	hookErr = errors.New("the backup failed")
	_, err = s.Up(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, hookErr)
	be, ok := errors.AsType[*deploy.BeforeReplaceError](err)
	require.True(t, ok, "%T %v", err, err)
	assert.Contains(t, err.Error(), `stopped before replacing or deleting scaleway:instance/server:Server "gitlab-server", and changed nothing: the backup failed`)
	require.Len(t, calls, 1)
	require.Len(t, calls[0], 1)
	assert.Equal(t, be.Replacements, calls[0])
	assert.Equal(t, "urn:pulumi:before::"+testProject+"::scaleway:instance/server:Server::gitlab-server", calls[0][0].URN)
	assert.Equal(t, deploy.GuardedServer, calls[0][0].Kind)
	assert.False(t, calls[0][0].Delete)
	assert.Equal(t, 2, updates(), "the stopped up changed nothing")

	hookErr = nil
	log.Reset()
	up, err = s.Up(t.Context())
	require.NoError(t, err, log.String())
	assert.Equal(t, map[string]int{"replace": 1}, harness.Changed(up.Summary))
	require.Len(t, calls, 2)
	assert.Equal(t, calls[0], calls[1])
	assert.Equal(t, []int{2, 2}, updatesSeen, "the hook ran before the update")
	assert.Equal(t, 3, updates())
	assert.Contains(t, log.String(), "Previewing first: what must precede replacing the server")
	_, err = s.Destroy(t.Context())
	require.NoError(t, err, log.String())
}

// TestInterruptedUpIsCleared: a state with a pending create and the lock
// of a dead process, as a killed up leaves them (written into the file
// backend's checkpoint: `stack import` would drop it), is cleared by the
// next up, which names the resource and what to check in the Scaleway
// console; the up then goes on. While a live process holds the lock, the
// state is left alone.
func TestInterruptedUpIsCleared(t *testing.T) {
	eng := harness.NewEngine(t)
	var log syncBuffer
	s, err := deploy.Open(t.Context(), options(t, eng, "pending", partsProgram("a"), &log))
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Up(t.Context())
	require.NoError(t, err, log.String())

	const pendingURN = "urn:pulumi:pending::" + testProject + "::scaleway:instance/server:Server::gitlab-server"
	dir, err := deploy.FileBackendDir(eng.Backend)
	require.NoError(t, err)
	path := filepath.Join(dir, ".pulumi", "stacks", testProject, "pending.json")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var checkpoint map[string]any
	require.NoError(t, json.Unmarshal(raw, &checkpoint))
	latest := checkpoint["checkpoint"].(map[string]any)["latest"].(map[string]any)
	latest["pending_operations"] = []any{map[string]any{
		"resource": map[string]any{"urn": pendingURN, "custom": true, "type": "scaleway:instance/server:Server"},
		"type":     "creating",
	}}
	raw, err = json.Marshal(checkpoint)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	d, err := s.Auto().Export(t.Context())
	require.NoError(t, err)
	require.Contains(t, string(d.Deployment), "pending_operations", "the crafted state has a pending create")

	// A live operation's lock (this process's): the state is not touched
	// and up fails on the lock, as the engine says.
	host, err := os.Hostname()
	require.NoError(t, err)
	lock := func(pid int) string {
		path := filepath.Join(dir, ".pulumi", "locks", "organization", testProject, "pending", fmt.Sprintf("lock-%d.json", pid))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		b, err := json.Marshal(map[string]any{"pid": pid, "username": "someone", "hostname": host, "timestamp": "2026-12-01T00:00:00Z"})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o600))
		return path
	}
	live := lock(os.Getpid())
	_, err = s.Up(t.Context())
	require.ErrorIs(t, err, deploy.ErrLocked)
	d, err = s.Auto().Export(t.Context())
	require.NoError(t, err)
	require.Contains(t, string(d.Deployment), "pending_operations", "a locked stack's state is left alone")
	require.NoError(t, os.Remove(live))

	// The lock a killed up left (a dead process of this host) goes.
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	stale := lock(dead.Process.Pid)
	log.Reset()
	_, err = s.Up(t.Context())
	require.NoError(t, err, log.String())
	assert.NoFileExists(t, stale)
	out := log.String()
	assert.Contains(t, out, `notice: the last update of stack "pending" was interrupted`)
	assert.Contains(t, out, `creating scaleway:instance/server:Server "gitlab-server" (`+pendingURN+`)`)
	assert.Contains(t, out, "Scaleway console")
	d, err = s.Auto().Export(t.Context())
	require.NoError(t, err)
	assert.NotContains(t, string(d.Deployment), "pending_operations")
	assert.False(t, strings.Contains(out, "Attempting to deploy or update resources with 1 pending operations"),
		"the engine saw no pending operation")

	log.Reset()
	_, err = s.Up(t.Context())
	require.NoError(t, err)
	assert.NotContains(t, log.String(), "notice: the last update", "nothing to clear the second time")
	_, err = s.Destroy(t.Context())
	require.NoError(t, err, log.String())
}

// TestDestroyWithTheClusterGone: a stack whose Kubernetes provider's API
// does not answer (its kubeconfig names a closed loopback port), through
// the real engine and the Kubernetes provider plugin. Its state holds a
// ConfigMap and a Helm release (written in with stack import: nothing can
// create them without a cluster). Without the recovery (the control) the
// destroy fails on both. With the cluster probed as answering, the
// ConfigMap alone is deleted by the provider's deleteUnreachable, which
// Destroy sets; with the real probe, both are removed from the state, the
// notice names them, and the rest is destroyed.
func TestDestroyWithTheClusterGone(t *testing.T) {
	eng := harness.NewEngine(t)
	eng.InstallKubernetesPlugin(t)
	closed := harness.FreePort(t)
	kubeconfig := fmt.Sprintf(`{"apiVersion":"v1","kind":"Config","clusters":[{"name":"c","cluster":{"server":"https://127.0.0.1:%d"}}],`+
		`"users":[{"name":"u","user":{"token":"t"}}],"contexts":[{"name":"c","context":{"cluster":"c","user":"u"}}],"current-context":"c"}`, closed)
	program := func(ctx *pulumi.Context) error {
		if err := plugins.Pin(ctx); err != nil {
			return err
		}
		_, err := kubernetes.NewProvider(ctx, "kapsule-k8s", &kubernetes.ProviderArgs{
			Kubeconfig: pulumi.ToSecret(pulumi.String(kubeconfig)).(pulumi.StringOutput), EnableServerSideApply: pulumi.Bool(true),
		})
		return err
	}
	for _, tc := range []struct {
		name     string
		release  bool
		prober   deploy.Prober
		notice   bool
		deletes  int
		controls string
	}{
		{"deleteUnreachable", false, deploy.Prober{Cluster: func(context.Context, string) error { return nil }}, false, 3,
			"configured Kubernetes cluster is unreachable"},
		{"probed gone", true, deploy.Prober{}, true, 2, "can't delete Helm Release with unreachable cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log syncBuffer
			stackName := strings.ReplaceAll(tc.name, " ", "-")
			opts := options(t, eng, stackName, program, &log)
			opts.Prober = tc.prober
			s, err := deploy.Open(t.Context(), opts)
			require.NoError(t, err)
			defer s.Close()
			control, err := deploy.Open(t.Context(), options(t, eng, stackName+"-control", program, &log))
			require.NoError(t, err)
			defer control.Close()
			for _, st := range []*deploy.Stack{s, control} {
				_, err := st.Up(t.Context())
				require.NoError(t, err, log.String())
				addObjects(t, st, tc.release)
			}

			_, err = control.Auto().Destroy(t.Context(), optdestroy.RunProgram(true))
			require.Error(t, err, "without the recovery the cluster's objects cannot be destroyed")
			assert.Contains(t, err.Error(), tc.controls)

			log.Reset()
			des, err := s.Destroy(t.Context())
			require.NoError(t, err, log.String())
			assert.Equal(t, tc.notice, strings.Contains(log.String(), "notice: the Kubernetes cluster of provider kapsule-k8s is unreachable (its API https://127.0.0.1:"), log.String())
			if tc.notice {
				assert.Contains(t, log.String(), "kubernetes:helm.sh/v3:Release::agent-release")
				assert.Contains(t, log.String(), "kubernetes:core/v1:ConfigMap::agent-config")
			} else {
				assert.Contains(t, log.String(), "the `deleteUnreachable` option is enabled")
			}
			// The update is the provider's, deleteUnreachable set for the destroy.
			assert.Equal(t, map[string]int{"update": 1, "delete": tc.deletes}, harness.Changed(des.Summary))
			assert.Empty(t, stateTypes(t, s))
		})
	}
}

// addObjects writes a ConfigMap, and with release a Helm release, managed
// by the stack's Kubernetes provider into its state.
func addObjects(t *testing.T, s *deploy.Stack, release bool) {
	t.Helper()
	d, err := s.Auto().Export(t.Context())
	require.NoError(t, err)
	var dep map[string]any
	require.NoError(t, json.Unmarshal(d.Deployment, &dep))
	resources := dep["resources"].([]any)
	var stackURN, providerRef string
	for _, r := range resources {
		m := r.(map[string]any)
		switch m["type"] {
		case "pulumi:pulumi:Stack":
			stackURN = m["urn"].(string)
		case "pulumi:providers:kubernetes":
			providerRef = m["urn"].(string) + "::" + m["id"].(string)
		}
	}
	require.NotEmpty(t, providerRef)
	prefix := strings.TrimSuffix(stackURN, stackURN[strings.LastIndex(stackURN, "::"):])
	prefix = prefix[:strings.LastIndex(prefix, "::")+2]
	object := func(typ, name, id string) map[string]any {
		return map[string]any{
			"urn": prefix + typ + "::" + name, "custom": true, "id": id, "type": typ, "parent": stackURN,
			"provider": providerRef, "inputs": map[string]any{}, "outputs": map[string]any{},
		}
	}
	resources = append(resources, object("kubernetes:core/v1:ConfigMap", "agent-config", "gitlab-agent/agent-config"))
	if release {
		resources = append(resources, object("kubernetes:helm.sh/v3:Release", "agent-release", "gitlab-agent/gitlab-agent"))
	}
	dep["resources"] = resources
	d.Deployment, err = json.Marshal(dep)
	require.NoError(t, err)
	require.NoError(t, s.Auto().Import(t.Context(), d))
}

// TestUpNamesTheInputsThatForceAReplacement: the engine's own events name
// the inputs that force a replacement, and the refusal repeats them. The
// bridged stand-in (tests/standin/bridged) diffs the inputs as a bridged
// provider does, and the volume's state is written in with stack import
// (the stand-in creates nothing); the program marks name as forcing a
// replacement (ReplaceOnChanges), as the Scaleway provider's schema does
// for its force-new inputs.
func TestUpNamesTheInputsThatForceAReplacement(t *testing.T) {
	eng := harness.NewEngine(t)
	eng.InstallBridgedStandIns(t, "scaleway")
	program := func(ctx *pulumi.Context) error {
		if err := plugins.Pin(ctx); err != nil {
			return err
		}
		_, err := block.NewVolume(ctx, "gitlab-data", &block.VolumeArgs{
			Name: pulumi.String("glk-dev-gitlab-data-2"), Iops: pulumi.Int(5000), SizeInGb: pulumi.Int(50),
		}, pulumi.ReplaceOnChanges([]string{"name"}))
		return err
	}
	var log syncBuffer
	s, err := deploy.Open(t.Context(), options(t, eng, "keys", partsProgram(), &log))
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Up(t.Context())
	require.NoError(t, err, log.String())

	d, err := s.Auto().Export(t.Context())
	require.NoError(t, err)
	var dep map[string]any
	require.NoError(t, json.Unmarshal(d.Deployment, &dep))
	resources := dep["resources"].([]any)
	stackURN := resources[0].(map[string]any)["urn"].(string)
	version := plugins.All()["scaleway"].Version
	provURN := "urn:pulumi:keys::" + testProject + "::pulumi:providers:scaleway::default_" + strings.ReplaceAll(version, ".", "_")
	const provID = "5bd6f0a5-0bb2-4d2e-9f5f-5a8c3f1d2e01"
	old := map[string]any{"name": "glk-dev-gitlab-data", "iops": 5000, "sizeInGb": 50}
	resources = append(resources,
		map[string]any{"urn": provURN, "custom": true, "id": provID, "type": "pulumi:providers:scaleway",
			"inputs": map[string]any{"version": version}, "outputs": map[string]any{"version": version}},
		map[string]any{"urn": "urn:pulumi:keys::" + testProject + "::scaleway:block/volume:Volume::gitlab-data", "custom": true,
			"id": "fr-par-1/11111111-2222-3333-4444-555555555555", "type": "scaleway:block/volume:Volume", "parent": stackURN,
			"provider": provURN + "::" + provID, "inputs": old, "outputs": old},
	)
	dep["resources"] = resources
	d.Deployment, err = json.Marshal(dep)
	require.NoError(t, err)
	require.NoError(t, s.Auto().Import(t.Context(), d))

	guarded, err := deploy.Open(t.Context(), options(t, eng, "keys", program, &log))
	require.NoError(t, err)
	defer guarded.Close()
	_, err = guarded.Up(t.Context())
	re, ok := errors.AsType[*deploy.ReplaceError](err)
	require.True(t, ok, "%v", err)
	require.Len(t, re.Replacements, 1)
	assert.Equal(t, []string{"name"}, re.Replacements[0].Keys)
	assert.Contains(t, err.Error(), `scaleway:block/volume:Volume "gitlab-data"`)
	assert.Contains(t, err.Error(), "would be replaced, forced by a change of name: GitLab's data volume is recreated empty")
}

package deploy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ProviderBinEnv names a prebuilt pulumi-resource-gitlabwait; unset, the tests build one.
const ProviderBinEnv = "GLK_PROVIDER_BIN"

// testProject is the project of the tests' stacks.
const testProject = "glktest"

var (
	pluginOnce sync.Once
	pluginDir  string
	pluginErr  error
)

// gitlabwaitPluginDir returns a folder holding pulumi-resource-gitlabwait,
// built once per test binary from this checkout (or $GLK_PROVIDER_BIN).
func gitlabwaitPluginDir(t *testing.T) string {
	t.Helper()
	goTool := ""
	if os.Getenv(ProviderBinEnv) == "" {
		goTool = testenv.Tool(t, "go", "install Go")
	}
	pluginOnce.Do(func() {
		pluginDir, pluginErr = os.MkdirTemp("", "glk-gitlabwait-")
		if pluginErr != nil {
			return
		}
		bin := filepath.Join(pluginDir, "pulumi-resource-gitlabwait")
		if prebuilt := os.Getenv(ProviderBinEnv); prebuilt != "" {
			abs, err := filepath.Abs(prebuilt)
			if err == nil {
				err = os.Symlink(abs, bin)
			}
			pluginErr = err
			return
		}
		out, err := exec.Command(goTool, "build", "-o", bin, "github.com/gitlab-kapsule/gitlab-kapsule/provider/cmd/pulumi-resource-gitlabwait").CombinedOutput()
		if err != nil {
			pluginErr = &buildError{err, out}
		}
	})
	require.NoError(t, pluginErr, "build pulumi-resource-gitlabwait")
	return pluginDir
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

func TestMain(m *testing.M) {
	code := m.Run()
	if pluginDir != "" {
		_ = os.RemoveAll(pluginDir)
	}
	os.Exit(code)
}

// options are deploy.Options for a stack of program on eng's backend.
func options(t *testing.T, eng *harness.Engine, stackName string, program pulumi.RunFunc, log io.Writer) deploy.Options {
	t.Helper()
	return deploy.Options{
		StackName:     stackName,
		Backend:       eng.Backend,
		Project:       testProject,
		WorkDir:       filepath.Join(eng.Home, "workspace"),
		Program:       program,
		PluginDir:     gitlabwaitPluginDir(t),
		Env:           eng.Env,
		Command:       eng.Command,
		Progress:      log,
		ErrorProgress: log,
	}
}

// syncBuffer is a bytes.Buffer safe for the engine's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// readinessServer is a loopback GitLab stand-in: it answers 502 until
// ready is set, then 200 with a readiness body.
type readinessServer struct {
	ready    atomic.Bool
	requests atomic.Int64
	host     string
	port     int
}

func startReadinessServer(t *testing.T, ready bool) *readinessServer {
	t.Helper()
	g := &readinessServer{}
	g.ready.Store(ready)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		g.requests.Add(1)
		if !g.ready.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok","master_check":[{"status":"ok"}]}`)
	}))
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	g.host = host
	g.port, err = strconv.Atoi(port)
	require.NoError(t, err)
	return g
}

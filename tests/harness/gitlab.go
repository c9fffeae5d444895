package harness

import (
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

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
)

// ProviderBinEnv names a prebuilt pulumi-resource-gitlabwait; unset,
// GitLabWaitPluginDir builds one.
const ProviderBinEnv = "GLK_PROVIDER_BIN"

// gitlabwaitPackage is the gitlabwait provider plugin's main package.
const gitlabwaitPackage = "github.com/gitlab-kapsule/gitlab-kapsule/provider/cmd/pulumi-resource-gitlabwait"

// scalewayStandInPackage is the stand-in Scaleway plugin's main package.
const scalewayStandInPackage = "github.com/gitlab-kapsule/gitlab-kapsule/tests/standin/scaleway"

// builtPlugin is a provider plugin built once per test binary into a
// folder of its own; Main removes the folder after the last test.
type builtPlugin struct {
	once sync.Once
	dir  string
	err  error
}

var (
	gitlabwaitPlugin builtPlugin
	scalewayStandIn  builtPlugin
)

// get returns the folder holding pulumi-resource-<name>: prebuilt when
// given, else built from pkg.
func (b *builtPlugin) get(t testing.TB, name, pkg, prebuilt string) string {
	t.Helper()
	goTool := ""
	if prebuilt == "" {
		goTool = testenv.Tool(t, "go", "install Go")
	}
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "glk-"+name+"-")
		if b.err != nil {
			return
		}
		dir := b.dir
		AtExit(func() error { return os.RemoveAll(dir) })
		bin := filepath.Join(dir, "pulumi-resource-"+name)
		if prebuilt != "" {
			abs, err := filepath.Abs(prebuilt)
			if err == nil {
				err = os.Symlink(abs, bin)
			}
			b.err = err
			return
		}
		out, err := exec.Command(goTool, "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			b.err = &buildError{err, out}
		}
	})
	if b.err != nil {
		t.Fatalf("build pulumi-resource-%s: %v", name, b.err)
	}
	return b.dir
}

// GitLabWaitPluginDir returns a folder holding pulumi-resource-gitlabwait:
// the binary named by $GLK_PROVIDER_BIN, or one built from this checkout.
func GitLabWaitPluginDir(t testing.TB) string {
	t.Helper()
	return gitlabwaitPlugin.get(t, "gitlabwait", gitlabwaitPackage, os.Getenv(ProviderBinEnv))
}

// ScalewayStandInPlugin returns the path of the stand-in
// pulumi-resource-scaleway (tests/standin/scaleway), built once.
func ScalewayStandInPlugin(t testing.TB) string {
	t.Helper()
	return filepath.Join(scalewayStandIn.get(t, "scaleway", scalewayStandInPackage, ""), "pulumi-resource-scaleway")
}

// buildError is a failed go build with its output.
type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// Unwrap returns go build's error.
func (e *buildError) Unwrap() error { return e.err }

// ReadinessServer is a loopback GitLab stand-in for readiness waits: it
// answers the scheduled statuses in turn, repeating the last; 200 comes
// with a readiness body.
type ReadinessServer struct {
	// Host and Port are where it listens.
	Host string
	Port int
	// Requests counts the requests answered so far.
	Requests atomic.Int64

	mu    sync.Mutex
	codes []int
	from  int64 // the request count when codes was scheduled
}

// StartReadinessServer starts a ReadinessServer answering codes (at least
// one); the test's cleanup stops it.
func StartReadinessServer(t testing.TB, codes ...int) *ReadinessServer {
	t.Helper()
	if len(codes) == 0 {
		t.Fatal("StartReadinessServer: schedule at least one status code")
	}
	g := &ReadinessServer{codes: codes}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		code := g.next()
		w.WriteHeader(code)
		if code == http.StatusOK {
			_, _ = io.WriteString(w, `{"status":"ok","master_check":[{"status":"ok"}]}`)
		}
	}))
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	g.Host = host
	if g.Port, err = strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	return g
}

// Answer schedules codes (at least one) from the next request on.
func (g *ReadinessServer) Answer(codes ...int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.codes = codes
	g.from = g.Requests.Load()
}

func (g *ReadinessServer) next() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.Requests.Add(1) - g.from
	return g.codes[min(int(n)-1, len(g.codes)-1)]
}

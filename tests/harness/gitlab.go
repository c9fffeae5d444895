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
	"strings"
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

// commandPackage is the gitlab-kapsule command's main package.
const commandPackage = "github.com/gitlab-kapsule/gitlab-kapsule/cmd/gitlab-kapsule"

// builtBinary is a binary built once per test binary into a folder of its
// own; Main removes the folder after the last test.
type builtBinary struct {
	once sync.Once
	dir  string
	err  error
}

var (
	gitlabwaitPlugin builtBinary
	scalewayStandIn  builtBinary
	command          builtBinary
)

// get returns the folder holding file: prebuilt linked there when given,
// else built from pkg.
func (b *builtBinary) get(t testing.TB, file, pkg, prebuilt string) string {
	t.Helper()
	goTool := ""
	if prebuilt == "" {
		goTool = testenv.Tool(t, "go", "install Go")
	}
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "glk-"+file+"-")
		if b.err != nil {
			return
		}
		dir := b.dir
		AtExit(func() error { return os.RemoveAll(dir) })
		bin := filepath.Join(dir, file)
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
		t.Fatalf("build %s: %v", file, b.err)
	}
	return b.dir
}

// GitLabWaitPluginDir returns a folder holding pulumi-resource-gitlabwait:
// the binary named by $GLK_PROVIDER_BIN, or one built from this checkout.
func GitLabWaitPluginDir(t testing.TB) string {
	t.Helper()
	return gitlabwaitPlugin.get(t, "pulumi-resource-gitlabwait", gitlabwaitPackage, os.Getenv(ProviderBinEnv))
}

// ScalewayStandInPlugin returns the path of the stand-in
// pulumi-resource-scaleway (tests/standin/scaleway), built once.
func ScalewayStandInPlugin(t testing.TB) string {
	t.Helper()
	return filepath.Join(scalewayStandIn.get(t, "pulumi-resource-scaleway", scalewayStandInPackage, ""), "pulumi-resource-scaleway")
}

// GitLabKapsuleCommand returns the path of the gitlab-kapsule command built
// from this checkout, once per test binary: a user's binary, which also
// serves the readiness provider.
func GitLabKapsuleCommand(t testing.TB) string {
	t.Helper()
	return filepath.Join(command.get(t, "gitlab-kapsule", commandPackage, ""), "gitlab-kapsule")
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

// PathWithout returns $PATH without the folders that hold tool, for a
// process that must run without it (a built command without the Go
// toolchain).
func PathWithout(t testing.TB, tool string) string {
	t.Helper()
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, tool)); err == nil {
			continue
		}
		keep = append(keep, dir)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// RepoRoot returns the root of the checkout the test runs in: the nearest
// folder above the test's package that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder: run the test inside the checkout")
		}
		dir = parent
	}
}

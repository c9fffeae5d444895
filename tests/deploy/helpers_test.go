package deploy

import (
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testProject is the project of the tests' stacks.
const testProject = "glktest"

// TestMain removes the command built for the tests after the last one.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// options are deploy.Options for a stack of program on eng's backend. The
// readiness provider is the built command's binary, as the command serves
// it, and the CLI runs with no Go toolchain on its PATH.
func options(t *testing.T, eng *harness.Engine, stackName string, program pulumi.RunFunc, log io.Writer) deploy.Options {
	t.Helper()
	env := maps.Clone(eng.Env)
	env["PATH"] = harness.PathWithout(t, "go")
	return deploy.Options{
		StackName:     stackName,
		Backend:       eng.Backend,
		Project:       testProject,
		WorkDir:       filepath.Join(eng.Home, "workspace"),
		Program:       program,
		PluginDir:     commandPluginDir(t),
		Env:           env,
		Command:       eng.Command,
		Progress:      log,
		ErrorProgress: log,
	}
}

// commandPluginDir is a plugin folder whose readiness provider is the built
// command, made as the command makes its own; it goes with the test.
func commandPluginDir(t *testing.T) string {
	t.Helper()
	dir, remove, err := deploy.ExecutablePluginDir(harness.GitLabKapsuleCommand(t))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, remove()) })
	return dir
}

// syncBuffer is a buffer safe for the engine's concurrent writers.
type syncBuffer = harness.SyncBuffer

// readinessServer is a loopback GitLab stand-in: it answers 502 until
// ready is set, then 200 with a readiness body.
type readinessServer struct {
	host     string
	port     int
	requests *atomic.Int64
	ready    readySwitch
}

// readySwitch makes a harness.ReadinessServer answer ready or not.
type readySwitch struct{ g *harness.ReadinessServer }

// Store answers 200 from the next request on when ready, else 502.
func (r readySwitch) Store(ready bool) {
	if ready {
		r.g.Answer(http.StatusOK)
	} else {
		r.g.Answer(http.StatusBadGateway)
	}
}

func startReadinessServer(t *testing.T, ready bool) *readinessServer {
	t.Helper()
	g := harness.StartReadinessServer(t, http.StatusBadGateway)
	r := &readinessServer{host: g.Host, port: g.Port, requests: &g.Requests, ready: readySwitch{g}}
	r.ready.Store(ready)
	return r
}

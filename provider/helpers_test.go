package provider

import (
	"context"
	"maps"
	"net/http"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/integration"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The resources' tokens, and a URN of each for requests made by hand.
const (
	token      = "gitlabwait:index:GitLabReady"
	agentToken = "gitlabwait:index:AgentConnected"
)

var (
	urn      = presource.NewURN("test", "provider", "", token, "gitlab")
	agentURN = presource.NewURN("test", "provider", "", agentToken, "agent")
)

// newServer serves the provider built with opts, as the engine talks to it.
func newServer(t *testing.T, opts Options) integration.Server {
	t.Helper()
	prov, err := New(opts)
	require.NoError(t, err)
	s, err := integration.NewServer(context.Background(), Name, semver.MustParse(Version), integration.WithProvider(prov))
	require.NoError(t, err)
	return s
}

// fakeEnv is a provider whose waits reach a fake GitLab through the fake
// bastion, on a fake clock, so long waits take no time.
type fakeEnv struct {
	// key is the privateKey input: the key the bastion trusts.
	key     string
	bastion *fakeBastion
	// host and port are the fake GitLab's address: targetHost and targetPort.
	host   string
	port   int
	server integration.Server
}

// newFakeEnv serves gitlab behind a fake bastion. recheck is Options.Recheck:
// nil reads GITLABWAIT_RECHECK, as the plugin does.
func newFakeEnv(t *testing.T, gitlab http.Handler, recheck func(context.Context) bool) fakeEnv {
	t.Helper()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	host, port := startGitLab(t, gitlab)
	s := newServer(t, Options{Waiter: &Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}, Recheck: recheck})
	return fakeEnv{key: key, bastion: fb, host: host, port: port, server: s}
}

// accessInputs are the inputs both resources take, for GitLab at host:port
// through the fake bastion with key.
func accessInputs(key, host string, port int) map[string]property.Value {
	return map[string]property.Value{
		"bastionHost": property.New("bastion.invalid"),
		"bastionPort": property.New(61000.0),
		"privateKey":  property.New(key).WithSecret(true),
		"targetHost":  property.New(host),
		"targetPort":  property.New(float64(port)),
	}
}

// inputs are GitLabReady's inputs: the shared ones, an instance id, then extra.
func inputs(key, host string, port int, extra map[string]property.Value) property.Map {
	m := accessInputs(key, host, port)
	m["instanceId"] = property.New("instance-1")
	maps.Copy(m, extra)
	return property.NewMap(m)
}

// agentInputs are AgentConnected's inputs: the shared ones, the agent's, then extra.
func agentInputs(key, host string, port int, extra map[string]property.Value) property.Map {
	m := accessInputs(key, host, port)
	m["token"] = property.New(patForTests).WithSecret(true)
	m["projectPath"] = property.New("root/kubernetes-agent")
	m["agentName"] = property.New("kapsule")
	m["tokenId"] = property.New("7")
	maps.Copy(m, extra)
	return property.NewMap(m)
}

// checkAndCreate checks and creates a resource, as the engine would.
func checkAndCreate(t *testing.T, s integration.Server, urn presource.URN, in property.Map) (p.CheckResponse, p.CreateResponse, error) {
	t.Helper()
	check, err := s.Check(p.CheckRequest{Urn: urn, Inputs: in})
	require.NoError(t, err)
	require.Empty(t, check.Failures)
	created, err := s.Create(p.CreateRequest{Urn: urn, Properties: check.Inputs})
	return check, created, err
}

// diffCase changes one input and says how Diff must judge the change.
type diffCase[A any] struct {
	name   string
	change func(*A)
	key    string
	kind   p.DiffKind
}

// testDiffCases runs Diff for each case, base changed by it against state:
// Diff must see exactly the changed key, judged kind.
func testDiffCases[A, S any](t *testing.T, r infer.CustomDiff[A, S], state S, base A, cases []diffCase[A]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := base
			tt.change(&in)
			d, err := r.Diff(context.Background(), infer.DiffRequest[A, S]{ID: "test", State: state, Inputs: in})
			require.NoError(t, err)
			assert.True(t, d.HasChanges)
			require.Len(t, d.DetailedDiff, 1)
			assert.Equal(t, tt.kind, d.DetailedDiff[tt.key].Kind)
		})
	}
}

package provider

import (
	"context"
	"maps"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/require"
)

// The resources' tokens, and a URN of each for requests made by hand.
const (
	token         = "gitlabwait:index:GitLabReady"
	agentToken    = "gitlabwait:index:AgentConnected"
	pipelineToken = "gitlabwait:index:PipelineSucceeded"
)

var (
	urn         = presource.NewURN("test", "provider", "", token, "gitlab")
	agentURN    = presource.NewURN("test", "provider", "", agentToken, "agent")
	pipelineURN = presource.NewURN("test", "provider", "", pipelineToken, "pipeline")
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

// pipelineInputs are PipelineSucceeded's inputs: the shared ones, the
// pipeline's (no sha), then extra.
func pipelineInputs(key, host string, port int, extra map[string]property.Value) property.Map {
	m := accessInputs(key, host, port)
	m["token"] = property.New(patForTests).WithSecret(true)
	m["projectPath"] = property.New("root/kubernetes-agent")
	m["ref"] = property.New("main")
	maps.Copy(m, extra)
	return property.NewMap(m)
}

// fixture is one resource and its GitLab stand-in, for the tests that
// drive both resources the same way.
type fixture struct {
	name string
	urn  presource.URN
	// gitlab answers the resource's requests; requests counts them.
	gitlab   http.Handler
	requests *atomic.Int32
	// inputs are the resource's inputs for GitLab at host:port, then extra.
	inputs func(key, host string, port int, extra map[string]property.Value) property.Map
}

// readyFixture is GitLabReady, GitLab answering codes in turn.
func readyFixture(codes ...int) fixture {
	g := &schedule{codes: codes}
	return fixture{name: "GitLabReady", urn: urn, gitlab: g, requests: &g.n, inputs: inputs}
}

// agentFixture is AgentConnected, GraphQL giving answers in turn.
func agentFixture(answers ...string) (fixture, *fakeGraphQL) {
	g := &fakeGraphQL{answers: answers}
	return fixture{name: "AgentConnected", urn: agentURN, gitlab: g, requests: &g.n, inputs: agentInputs}, g
}

// pipelineFixture is PipelineSucceeded, GitLab's pipelines changing through
// states; requests counts the list requests, one an attempt.
func pipelineFixture(states ...[]fakePipeline) (fixture, *fakePipelines) {
	g := newFakePipelines(states...)
	return fixture{name: "PipelineSucceeded", urn: pipelineURN, gitlab: g, requests: &g.lists, inputs: pipelineInputs}, g
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

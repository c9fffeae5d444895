package provider

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// fakeGraphQL answers agent connection queries: no project, then no agent,
// then no connection, then connected, repeating the last one. It records
// what it was asked.
type fakeGraphQL struct {
	answers []string
	status  int
	n       atomic.Int32
	auth    atomic.Value
	vars    atomic.Value
}

func (f *fakeGraphQL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/graphql" {
		http.NotFound(w, r)
		return
	}
	f.auth.Store(r.Header.Get("Authorization"))
	var req struct {
		Query     string            `json:"query"`
		Variables map[string]string `json:"variables"`
	}
	body, _ := io.ReadAll(r.Body)
	if json.Unmarshal(body, &req) != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.vars.Store(req.Variables)
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	i := int(f.n.Add(1)) - 1
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, f.answers[min(i, len(f.answers)-1)])
}

const (
	noProject   = `{"data":{"project":null}}`
	noAgent     = `{"data":{"project":{"clusterAgent":null}}}`
	noConn      = `{"data":{"project":{"clusterAgent":{"id":"gid://gitlab/Clusters::Agent/1","connections":{"nodes":[]}}}}}`
	connected   = `{"data":{"project":{"clusterAgent":{"id":"gid://gitlab/Clusters::Agent/1","connections":{"nodes":[{"connectedAt":"2026-01-02T03:04:05Z","metadata":{"version":"v18.5.1","podName":"agentk-0"}},{"connectedAt":"2026-01-02T03:04:06Z","metadata":{"version":"v18.5.1","podName":"agentk-1"}}]}}}}}`
	gqlError    = `{"errors":[{"message":"Field 'clusterAgent' doesn't exist"}]}`
	patForTests = "glpat-test-token"
)

func TestParseAgentConnections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		code       int
		connected  bool
		detail     string
	}{
		{"connected", connected, 200, true, ""},
		{"no connection", noConn, 200, false, "no agentk is connected"},
		{"no agent", noAgent, 200, false, "not registered"},
		{"no project", noProject, 200, false, "not visible to the token"},
		{"graphql error", gqlError, 200, false, "Field 'clusterAgent'"},
		{"not json", "<html>", 200, false, "without a JSON body"},
		{"server error", "", 502, false, "HTTP 502"},
	} {
		st := ParseAgentConnections(tc.code, []byte(tc.body))
		assert.Equal(t, tc.connected, st.Connected, tc.name)
		assert.Contains(t, st.Detail, tc.detail, tc.name)
	}
	st := ParseAgentConnections(200, []byte(connected))
	assert.Equal(t, AgentStatus{Connected: true, Connections: 2, ConnectedAt: "2026-01-02T03:04:05Z", Version: "v18.5.1"}, st)
}

func TestAgentConnectedLifecycle(t *testing.T) {
	t.Parallel()
	gql := &fakeGraphQL{answers: []string{noProject, noAgent, noConn, connected}}
	env := newFakeEnv(t, gql, nil)
	key, host, port := env.key, env.host, env.port

	integration.LifeCycleTest{
		Resource: agentToken,
		Create: integration.Operation{
			Inputs: agentInputs(key, host, port, nil),
			Hook: func(_, out property.Map) {
				assert.EqualValues(t, 4, gql.n.Load(), "the create waited through every stage")
				assert.Equal(t, "Bearer "+patForTests, gql.auth.Load(), "GraphQL gets the token")
				assert.Equal(t, map[string]string{"fullPath": "root/kubernetes-agent", "name": "kapsule"}, gql.vars.Load())
				assert.EqualValues(t, 2, out.Get("connections").AsNumber())
				assert.Equal(t, "v18.5.1", out.Get("agentVersion").AsString())
				assert.Equal(t, "2026-01-02T03:04:05Z", out.Get("connectedAt").AsString())
				assert.Equal(t, ssh.FingerprintSHA256(env.bastion.hostSigner.PublicKey()), out.Get("bastionHostKeyFingerprint").AsString())
				assert.True(t, out.Get("token").Secret(), "the token stays a secret in state")
				assert.True(t, out.Get("privateKey").Secret())
				assert.Equal(t, "15m", out.Get("timeout").AsString(), "defaults are applied")
			},
		},
		Updates: []integration.Operation{{
			// A longer timeout is recorded without asking again.
			Inputs: agentInputs(key, host, port, map[string]property.Value{"timeout": property.New("1h")}),
			Hook: func(_, out property.Map) {
				assert.EqualValues(t, 4, gql.n.Load(), "an update does not wait")
				assert.Equal(t, "1h", out.Get("timeout").AsString())
			},
		}},
	}.Run(t, env.server)
}

func TestAgentConnectedDiffReplacesOnNewTokenOrAgent(t *testing.T) {
	t.Parallel()
	base := AgentConnectedArgs{BastionHost: "gw", BastionPort: 61000, PrivateKey: "k", TargetHost: "10.0.0.10",
		Token: "t", ProjectPath: "root/kubernetes-agent", AgentName: "kapsule", TokenID: "7"}
	state := AgentConnectedState{AgentConnectedArgs: base.withDefaults(), Connections: 2}
	testDiffCases(t, &AgentConnected{}, state, base, []diffCase[AgentConnectedArgs]{
		{"new agent token", func(a *AgentConnectedArgs) { a.TokenID = "8" }, "tokenId", p.UpdateReplace},
		{"new agent", func(a *AgentConnectedArgs) { a.AgentName = "other" }, "agentName", p.UpdateReplace},
		{"new project", func(a *AgentConnectedArgs) { a.ProjectPath = "root/other" }, "projectPath", p.UpdateReplace},
		{"new gitlab", func(a *AgentConnectedArgs) { a.TargetHost = "10.0.0.11" }, "targetHost", p.UpdateReplace},
		{"new api token", func(a *AgentConnectedArgs) { a.Token = "t2" }, "token", p.Update},
		{"new bastion", func(a *AgentConnectedArgs) { a.BastionHost = "gw2" }, "bastionHost", p.Update},
		{"timeout", func(a *AgentConnectedArgs) { a.Timeout = "1h" }, "timeout", p.Update},
	})
	d, err := (&AgentConnected{}).Diff(context.Background(), infer.DiffRequest[AgentConnectedArgs, AgentConnectedState]{State: state, Inputs: base})
	require.NoError(t, err)
	assert.False(t, d.HasChanges, "defaults spelled out are no change")
}

func TestAgentConnectedTimesOutWithTheLastReason(t *testing.T) {
	t.Parallel()
	env := newFakeEnv(t, &fakeGraphQL{answers: []string{noConn}}, nil)
	_, _, err := checkAndCreate(t, env.server, agentURN, agentInputs(env.key, env.host, env.port, map[string]property.Value{"timeout": property.New("2m")}))
	require.ErrorIs(t, err, ErrAgentNotConnected)
	assert.ErrorContains(t, err, "no agentk is connected yet")
	assert.ErrorContains(t, err, "raise timeout")
	assert.NotContains(t, err.Error(), patForTests, "the token never appears in messages")
}

func TestAgentConnectedStopsOnARefusedToken(t *testing.T) {
	t.Parallel()
	gql := &fakeGraphQL{status: http.StatusUnauthorized}
	env := newFakeEnv(t, gql, nil)
	_, _, err := checkAndCreate(t, env.server, agentURN, agentInputs(env.key, env.host, env.port, nil))
	require.Error(t, err)
	assert.EqualValues(t, 0, gql.n.Load(), "a refused token is not retried")
	assert.ErrorContains(t, err, "refuses the token (HTTP 401)")
	assert.NotContains(t, err.Error(), patForTests)
}

func TestAgentConnectedCheckNamesBadInputs(t *testing.T) {
	t.Parallel()
	key, _ := newKeyPEM(t)
	s := newServer(t, Options{})
	in := agentInputs(key, "10.0.0.10", 443, map[string]property.Value{
		"projectPath": property.New("kubernetes-agent"),
		"agentName":   property.New(""),
	})
	resp, err := s.Check(p.CheckRequest{Urn: agentURN, Inputs: in})
	require.NoError(t, err)
	var props []string
	for _, f := range resp.Failures {
		props = append(props, f.Property)
	}
	assert.ElementsMatch(t, []string{"projectPath", "agentName"}, props)
}

package provider

import (
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

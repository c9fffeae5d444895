package provider

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadRechecksOnlyWhenAsked: a refresh returns the recorded state without
// asking GitLab; asked to recheck, it asks once, and an answer that is not
// ready removes the resource, so the next up waits again.
func TestReadRechecksOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	ready := &schedule{codes: []int{200, 502}}
	agent := &fakeGraphQL{answers: []string{connected, noConn}}
	for _, tc := range []struct {
		name     string
		urn      presource.URN
		gitlab   http.Handler
		requests *atomic.Int32
		inputs   func(key, host string, port int, extra map[string]property.Value) property.Map
	}{
		{"GitLabReady", urn, ready, &ready.n, inputs},
		{"AgentConnected", agentURN, agent, &agent.n, agentInputs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recheck := false
			env := newFakeEnv(t, tc.gitlab, func(context.Context) bool { return recheck })
			s := env.server
			check, created, err := checkAndCreate(t, s, tc.urn, tc.inputs(env.key, env.host, env.port, nil))
			require.NoError(t, err)

			read, err := s.Read(p.ReadRequest{ID: created.ID, Urn: tc.urn, Properties: created.Properties, Inputs: check.Inputs})
			require.NoError(t, err)
			assert.Equal(t, created.ID, read.ID)
			assert.EqualValues(t, 1, tc.requests.Load(), "a plain refresh does not ask GitLab")

			recheck = true
			read, err = s.Read(p.ReadRequest{ID: created.ID, Urn: tc.urn, Properties: created.Properties, Inputs: check.Inputs})
			require.NoError(t, err)
			assert.EqualValues(t, 2, tc.requests.Load(), "a refresh that is asked to asks GitLab once")
			assert.Empty(t, read.ID, "not ready: the resource is gone, so the next up waits again")
		})
	}
}

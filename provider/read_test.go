package provider

import (
	"context"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadRechecksOnlyWhenAsked: a refresh returns the recorded state without
// asking GitLab; asked to recheck, it asks once, and an answer that is not
// ready removes the resource, so the next up waits again.
func TestReadRechecksOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	agent, _ := agentFixture(connected, noConn)
	pipeline, _ := pipelineFixture(success11, running11)
	for _, tc := range []fixture{readyFixture(200, 502), agent, pipeline} {
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

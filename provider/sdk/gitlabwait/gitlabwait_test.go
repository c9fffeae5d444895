package gitlabwait

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mocks records the inputs of the gitlabwait resources and refuses any other type.
type mocks struct {
	mu     sync.Mutex
	inputs map[string]resource.PropertyMap
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	switch args.TypeToken {
	case GitLabReadyType, AgentConnectedType, PipelineSucceededType:
		m.mu.Lock()
		defer m.mu.Unlock()
		m.inputs[args.TypeToken] = args.Inputs
		return args.Name + "-id", args.Inputs, nil
	default:
		return "", nil, fmt.Errorf("unexpected resource type %s", args.TypeToken)
	}
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected call %s", args.Token)
}

// TestKeysAndTokensAreSecrets: plain values passed for the private key and the
// tokens reach the engine as secrets, and an unset optional token stays unset.
func TestKeysAndTokensAreSecrets(t *testing.T) {
	t.Parallel()
	m := &mocks{inputs: map[string]resource.PropertyMap{}}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		host, port, key, target := pulumi.String("gw"), pulumi.Int(61000), pulumi.String("KEY"), pulumi.String("10.0.0.10")
		access := Access{BastionHost: host, BastionPort: port, PrivateKey: key, TargetHost: target}
		if _, err := NewGitLabReady(ctx, "ready", &GitLabReadyArgs{Access: access}); err != nil {
			return err
		}
		if _, err := NewAgentConnected(ctx, "agent", &AgentConnectedArgs{
			Access: access,
			Token:  pulumi.String("glpat"), ProjectPath: pulumi.String("root/agent"), AgentName: pulumi.String("kapsule"),
		}); err != nil {
			return err
		}
		_, err := NewPipelineSucceeded(ctx, "pipeline", &PipelineSucceededArgs{
			Access: access,
			Token:  pulumi.String("glpat"), ProjectPath: pulumi.String("root/agent"), Ref: pulumi.String("main"),
		})
		return err
	}, pulumi.WithMocks("project", "stack", m))
	require.NoError(t, err)

	ready := m.inputs[GitLabReadyType]
	assert.True(t, ready["privateKey"].IsSecret())
	assert.Equal(t, "10.0.0.10", ready["targetHost"].StringValue())
	assert.Equal(t, 61000.0, ready["bastionPort"].NumberValue(), "an int input goes as a number")
	assert.NotContains(t, ready, resource.PropertyKey("token"), "an unset token stays unset")

	agent := m.inputs[AgentConnectedType]
	assert.True(t, agent["privateKey"].IsSecret())
	assert.True(t, agent["token"].IsSecret())
	assert.Equal(t, "root/agent", agent["projectPath"].StringValue())

	pipeline := m.inputs[PipelineSucceededType]
	assert.True(t, pipeline["privateKey"].IsSecret())
	assert.True(t, pipeline["token"].IsSecret())
	assert.Equal(t, "main", pipeline["ref"].StringValue())
	assert.NotContains(t, pipeline, resource.PropertyKey("sha"), "an unset sha stays unset")
}

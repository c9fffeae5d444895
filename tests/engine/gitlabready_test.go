package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// TestGitLabReadyUnderEngine runs the provider plugin under the real engine:
// the first up waits through a real sshd until the loopback GitLab is ready,
// a second up changes nothing and dials nothing, a new instance id waits
// again, and destroy succeeds.
func TestGitLabReadyUnderEngine(t *testing.T) {
	eng := harness.NewEngine(t)
	b := harness.StartBastion(t)
	g := harness.StartReadinessServer(t, 502, 404, 200)

	instance := "instance-1"
	program := func(ctx *pulumi.Context) error {
		r, err := gitlabwait.NewGitLabReady(ctx, "gitlab", &gitlabwait.GitLabReadyArgs{
			Access:     b.Access(g.Host, g.Port, 2*time.Minute, 500*time.Millisecond),
			InstanceId: pulumi.String(instance),
		})
		if err != nil {
			return err
		}
		ctx.Export("readyAt", r.ReadyAt)
		ctx.Export("fingerprint", r.BastionHostKeyFingerprint)
		return nil
	}
	s := gitlabwaitStack(t, eng, "gitlabready", program)

	harness.Preview(t, s)
	assert.Zero(t, b.Connections(), "a preview dials nothing")

	up := harness.Up(t, s)
	assert.Equal(t, map[string]int{"create": 2}, harness.Changed(up.Summary), "the stack and GitLabReady")
	assert.NotEmpty(t, output(t, up.Outputs, "readyAt"))
	assert.Equal(t, b.HostKeyFingerprint(), output(t, up.Outputs, "fingerprint"))
	assert.EqualValues(t, 3, g.Requests.Load(), "up waited: 502, 404, 200")
	assert.EqualValues(t, 1, b.Connections(), "one connection to the bastion")
	assertKeyIsSecret(t, s)

	again := harness.Up(t, s)
	assert.Empty(t, harness.Changed(again.Summary), "a second up changes nothing")
	assert.EqualValues(t, 3, g.Requests.Load(), "a second up does not poll")
	assert.EqualValues(t, 1, b.Connections(), "a second up does not dial")

	instance = "instance-2"
	replaced := harness.Up(t, s)
	assert.Equal(t, map[string]int{"replace": 1}, harness.Changed(replaced.Summary), "a new instance is waited for again")
	assert.EqualValues(t, 4, g.Requests.Load())

	harness.Destroy(t, s)
}

// secretSig marks a secret value in a Pulumi deployment.
const secretSig = "4dabf18193072939515e22adb298388d"

// assertKeyIsSecret checks that GitLabReady's privateKey is a secret in the
// state, as input and as output (the exported state shows secrets decrypted,
// under the secret marker).
// gitlabwaitStack is the stack name running program with the gitlabwait
// provider plugin built from this checkout.
func gitlabwaitStack(t *testing.T, eng *harness.Engine, name string, program pulumi.RunFunc) auto.Stack {
	t.Helper()
	pluginDir := harness.GitLabWaitPluginDir(t)
	return eng.Stack(t, harness.StackOptions{
		Stack:   name,
		Program: program,
		Settings: func(p *workspace.Project) {
			p.Plugins = &workspace.Plugins{Providers: []workspace.PluginOptions{{Name: "gitlabwait", Path: pluginDir}}}
		},
	})
}

func assertKeyIsSecret(t *testing.T, s auto.Stack) {
	t.Helper()
	state, err := s.Export(t.Context())
	require.NoError(t, err)
	var deployment struct {
		Resources []struct {
			Type    string                     `json:"type"`
			Inputs  map[string]json.RawMessage `json:"inputs"`
			Outputs map[string]json.RawMessage `json:"outputs"`
		} `json:"resources"`
	}
	require.NoError(t, json.Unmarshal(state.Deployment, &deployment))
	found := false
	for _, r := range deployment.Resources {
		if r.Type != gitlabwait.GitLabReadyType {
			continue
		}
		found = true
		for where, props := range map[string]map[string]json.RawMessage{"inputs": r.Inputs, "outputs": r.Outputs} {
			var v map[string]any
			require.NoError(t, json.Unmarshal(props["privateKey"], &v), "privateKey in %s is not a secret", where)
			assert.Contains(t, v, secretSig, "privateKey in %s is not a secret", where)
		}
	}
	require.True(t, found, "no GitLabReady in the state")
}

func output(t *testing.T, outs auto.OutputMap, key string) string {
	t.Helper()
	o, ok := outs[key]
	require.True(t, ok, "output %s is missing", key)
	v, ok := o.Value.(string)
	require.True(t, ok, "output %s is %T, not a string", key, o.Value)
	return v
}

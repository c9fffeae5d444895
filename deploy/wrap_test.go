package deploy

import (
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/cleanup"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The inline program refuses an unknown key in every operation, and runs
// the preflight for preview and up but not for refresh and destroy.
func TestInlineProgramSeesTheOperation(t *testing.T) {
	t.Parallel()
	for op, wantPreflight := range map[string]bool{"preview": true, "up": true, "refresh": false, "destroy": false} {
		s := &Stack{op: op, configuredKeys: []string{"network:cidrr"}}
		_, err := mockcloud.Run("dev", map[string]string{"network:cidrr": "10.0.0.0/24"}, nil, s.wrap(func(ctx *pulumi.Context) error {
			assert.Equal(t, wantPreflight, stack.PreflightWanted(ctx), op)
			return stack.Deploy(ctx)
		}))
		require.Error(t, err, op)
		assert.Contains(t, err.Error(), "did you mean network:cidr", op)
	}
}

// The inline program registers its cleanups with its own Stack's
// operation, never another's.
func TestInlineProgramRegistersWithItsStack(t *testing.T) {
	t.Parallel()
	var ran []string
	stacks := map[string]*Stack{"dev": {op: "up", cleanups: &cleanup.List{}}, "prod": {op: "up", cleanups: &cleanup.List{}}}
	for name, s := range stacks {
		_, err := mockcloud.Run(name, nil, nil, s.wrap(func(ctx *pulumi.Context) error {
			assert.True(t, cleanup.Register(ctx, func() error { ran = append(ran, name); return nil }), "the driver collects")
			return nil
		}))
		require.NoError(t, err)
	}
	assert.Empty(t, ran, "nothing is released while the operation runs")
	require.NoError(t, stacks["prod"].cleanups.Run())
	assert.Equal(t, []string{"prod"}, ran)
	require.NoError(t, stacks["dev"].cleanups.Run())
	assert.Equal(t, []string{"prod", "dev"}, ran)
}

// With a plugin folder the program knows the readiness provider is served
// from there, and does not judge whatever build is on PATH; without one the
// engine takes the PATH one, which the program then judges.
func TestInlineProgramKnowsWhoServesTheProvider(t *testing.T) {
	t.Parallel()
	for pluginDir, want := range map[string]bool{"/tmp/plugins": true, "": false} {
		s := &Stack{op: "up", opts: Options{PluginDir: pluginDir}, cleanups: &cleanup.List{}}
		_, err := mockcloud.Run("dev", nil, nil, s.wrap(func(ctx *pulumi.Context) error {
			assert.Equal(t, want, plugins.ServedByDriver(ctx), "PluginDir %q", pluginDir)
			return nil
		}))
		require.NoError(t, err)
	}
}

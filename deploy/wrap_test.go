package deploy

import (
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
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

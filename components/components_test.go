package components

import (
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each constructor refuses missing required arguments with its own name in
// the message, before registering anything.
func TestConstructorsNameWhatIsMissing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func(ctx *pulumi.Context) error
		want  string
	}{
		{"network", func(ctx *pulumi.Context) error {
			_, err := NewNetwork(ctx, "net", &NetworkArgs{Prefix: "glk-t"})
			return err
		}, `network "net": Prefix, CIDR and GitLabAddress are required`},
		{"gitlab host", func(ctx *pulumi.Context) error {
			_, err := NewGitLabHost(ctx, "gl", nil)
			return err
		}, `gitlab host "gl"`},
		{"kapsule", func(ctx *pulumi.Context) error {
			_, err := NewKapsule(ctx, "k", &KapsuleArgs{Prefix: "glk-t"})
			return err
		}, `kapsule "k"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cloud, err := mockcloud.Run("t", nil, nil, tt.build)
			require.ErrorContains(t, err, tt.want)
			assert.Empty(t, cloud.Resources())
		})
	}
}

func TestKapsuleWithoutOperatorRangesHasNoAccessList(t *testing.T) {
	t.Parallel()
	cloud, err := mockcloud.Run("t", nil, nil, func(ctx *pulumi.Context) error {
		_, err := NewKapsule(ctx, "k", &KapsuleArgs{
			Prefix: "glk-t", Region: "fr-par", Version: "1.36", CNI: "cilium",
			Pools:            []config.Pool{{Name: "pool", NodeType: "PRO2-XXS", Size: 1, Autohealing: true}},
			PrivateNetworkID: pulumi.String("pn"), GatewayIP: pulumi.String(mockcloud.GatewayIP),
		})
		return err
	})
	require.NoError(t, err)
	assert.Empty(t, cloud.OfType("scaleway:kubernetes/acl:Acl"), "an access list with only the gateway would lock operators out")
	assert.Len(t, cloud.OfType("scaleway:kubernetes/pool:Pool"), 1)
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	web := webOf(true)
	assert.Equal(t, gitLabWeb{scheme: "https", port: 443}, web)
	assert.Equal(t, "https://10.0.0.10", web.url("10.0.0.10"))
	assert.Equal(t, "10.0.0.10:443", web.hostPort("10.0.0.10"))
	assert.Equal(t, "grpcs://10.0.0.10:8150", kasURL("10.0.0.10", true))
	web = webOf(false)
	assert.Equal(t, gitLabWeb{scheme: "http", port: 80}, web)
	assert.Equal(t, "http://10.0.0.10", web.url("10.0.0.10"))
	assert.Equal(t, "grpc://10.0.0.10:8150", kasURL("10.0.0.10", false))
}

package stack_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	iam "github.com/scaleway/scaleway-sdk-go/api/iam/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	k8s "github.com/scaleway/scaleway-sdk-go/api/k8s/v1"
	marketplace "github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeScaleway answers the preflight's questions with the SDK's own types,
// as package preflight's tests check against the real client.
type fakeScaleway struct {
	versions []string
	clusters []*k8s.Cluster
	keys     []*iam.SSHKey
}

func (f *fakeScaleway) DefaultProjectID() string { return "project" }
func (f *fakeScaleway) KapsuleVersions(context.Context, string) ([]*k8s.Version, error) {
	var out []*k8s.Version
	for _, v := range f.versions {
		out = append(out, &k8s.Version{Name: v, Label: "Kubernetes " + v, Region: "fr-par"})
	}
	return out, nil
}
func (f *fakeScaleway) KapsuleClusters(context.Context, string, string, string) ([]*k8s.Cluster, error) {
	return f.clusters, nil
}
func (f *fakeScaleway) ServerTypes(context.Context, string) (map[string]*instance.ServerType, error) {
	return map[string]*instance.ServerType{"PRO2-XS": {}, "PRO2-XXS": {}}, nil
}
func (f *fakeScaleway) LocalImages(_ context.Context, zone, label string) ([]*marketplace.LocalImage, error) {
	return []*marketplace.LocalImage{{ID: "img", Label: label, CompatibleCommercialTypes: []string{"PRO2-XS"}}}, nil
}
func (f *fakeScaleway) SSHKeys(context.Context, string) ([]*iam.SSHKey, error) { return f.keys, nil }

func runWithScaleway(t *testing.T, api *fakeScaleway, config map[string]string) (*mockcloud.Cloud, error) {
	t.Helper()
	return mockcloud.Run("dev", config, nil, func(ctx *pulumi.Context) error {
		_, err := stack.Build(stack.WithPreflightAPI(ctx, api))
		return err
	})
}

func TestPreflightRefusesAVersionScalewayNoLongerOffersBeforeAnythingIsCreated(t *testing.T) {
	t.Parallel()
	c, err := runWithScaleway(t, &fakeScaleway{versions: []string{"1.37.1", "1.36.2"}}, map[string]string{"kapsule:version": "1.34.1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kapsule:version")
	assert.Contains(t, err.Error(), "1.36.2")
	assert.Empty(t, c.Resources(), "nothing is created")
}

func TestPreflightAdoptsAnUpgradeScalewayMade(t *testing.T) {
	t.Parallel()
	live := &k8s.Cluster{ID: "c", Name: "glk-dev-kapsule", Version: "1.37.1", Status: k8s.ClusterStatusReady, AutoUpgrade: &k8s.ClusterAutoUpgrade{Enabled: true}}
	c, err := runWithScaleway(t, &fakeScaleway{versions: []string{"1.37.1"}, clusters: []*k8s.Cluster{live}}, nil)
	require.NoError(t, err)
	cluster := one(t, c, "scaleway:kubernetes/cluster:Cluster")
	assert.Equal(t, "1.37", str(t, cluster, "version"), "the next up does not try to go back to 1.36, which Scaleway refuses")
}

func TestPreflightReusesTheOperatorsKeyAlreadyInTheProject(t *testing.T) {
	t.Parallel()
	material := strings.Join(strings.Fields(operatorKey)[:2], " ")
	api := &fakeScaleway{versions: []string{"1.36.2"}, keys: []*iam.SSHKey{{ID: "k1", Name: "laptop", PublicKey: material + " someone@laptop", ProjectID: "project"}}}
	c, err := runWithScaleway(t, api, map[string]string{"network:sshPublicKey": operatorKey})
	require.NoError(t, err)
	keys := c.OfType("scaleway:iam/sshKey:SshKey")
	require.Len(t, keys, 1, "only the program's own key: the operator's is a project key already, which the bastion imports")
	assert.Equal(t, "glk-dev-automation", str(t, keys[0], "name"))
	gw := one(t, c, "scaleway:network/publicGateway:PublicGateway")
	assert.Contains(t, str(t, gw, "refreshSshKeys"), "project:", "a change among the project's keys re-imports them")
}

// Refresh and destroy create nothing: a version Scaleway no longer offers
// must not stop them (the command turns the preflight off for them).
func TestNoPreflightWhenTurnedOff(t *testing.T) {
	t.Parallel()
	api := &fakeScaleway{versions: []string{"1.37.1"}}
	_, err := mockcloud.Run("dev", map[string]string{"kapsule:version": "1.34.1"}, nil, func(ctx *pulumi.Context) error {
		_, err := stack.Build(stack.WithoutPreflight(stack.WithPreflightAPI(ctx, api), "destroy creates nothing"))
		return err
	})
	require.NoError(t, err)
}

package stack_test

import (
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/offline"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Root's authorized keys on an instance come from the project's IAM keys
// when it is created, so the server waits for every key the stack registers.
func TestServerWaitsForTheBastionKeys(t *testing.T) {
	t.Parallel()
	c := mustRun(t, fullConfig()).cloud
	server := one(t, c, "scaleway:instance/server:Server")
	keys := c.OfType("scaleway:iam/sshKey:SshKey")
	require.Len(t, keys, 2, "the program's key and the operator's")
	for _, k := range keys {
		assert.Contains(t, server.Dependencies, k.URN, "the server waits for %s", k.Name)
		assert.True(t, k.DeleteBeforeReplace, "%s: a changed key is gone before the gateway re-imports the project's keys", k.Name)
	}
}

// GitLab's address is reserved before anything else joins the network.
func TestEverythingOnTheNetworkWaitsForGitLabsReservation(t *testing.T) {
	t.Parallel()
	c := mustRun(t, fullConfig()).cloud
	ip := one(t, c, "scaleway:ipam/ip:Ip")
	for _, token := range []string{"scaleway:kubernetes/cluster:Cluster", "scaleway:instance/privateNic:PrivateNic", "scaleway:network/gatewayNetwork:GatewayNetwork"} {
		r := one(t, c, token)
		assert.Contains(t, r.Dependencies, ip.URN, "%s joins the network only once GitLab's address is reserved", token)
	}
}

// A full version pins the cluster, with auto-upgrade off: the provider
// refuses a full version with auto-upgrade on.
func TestFullKapsuleVersionTurnsAutoUpgradeOff(t *testing.T) {
	t.Parallel()
	c := mustRun(t, map[string]string{"kapsule:version": "1.36.1"}).cloud
	cluster := one(t, c, "scaleway:kubernetes/cluster:Cluster")
	assert.Equal(t, "1.36.1", str(t, cluster, "version"))
	assert.False(t, cluster.Inputs["autoUpgrade"].ObjectValue()["enable"].BoolValue())
}

// The example stack must not lock `up` out of its own cluster: Kapsule's
// access-list rules replace its open default rule (terraform-provider-
// scaleway docs/resources/k8s_acl.md), and a shipped example cannot know the
// address of the machine that runs `up`, so it sets no list.
func TestExampleStackLeavesTheKubernetesAPIReachableFromUp(t *testing.T) {
	t.Parallel()
	sc, err := offline.ReadStackConfig("..", "dev")
	require.NoError(t, err)
	c := mustRun(t, sc.Values).cloud
	assert.Empty(t, c.OfType("scaleway:kubernetes/acl:Acl"), "no access list the example's user is outside of")
	cluster := one(t, c, "scaleway:kubernetes/cluster:Cluster")
	assert.True(t, cluster.Inputs["autoUpgrade"].ObjectValue()["enable"].BoolValue(), "the example's version is a minor, which Scaleway keeps creatable")
}

// destroy must not wait on GitLab 18's delayed project deletion, which the
// v6 SDK's delete polls for and CE may never report: the agent's project
// goes with the GitLab host, everything in it through the API.
func TestDestroyLeavesTheAgentProjectToTheHost(t *testing.T) {
	t.Parallel()
	c := mustRun(t, nil).cloud
	for _, r := range c.Resources() {
		if !strings.HasPrefix(r.Type, "gitlab:") {
			continue
		}
		want := r.Type == "gitlab:index/project:Project"
		assert.Equal(t, want, r.RetainOnDelete, "%s %s: only the project is left to the host", r.Type, r.Name)
	}
	server := one(t, c, "scaleway:instance/server:Server")
	assert.False(t, server.RetainOnDelete, "destroy removes the host, and the project with it")
}

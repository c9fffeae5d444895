package sim_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/bench/sim"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/instance"
	scwk8s "github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/kubernetes"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProgramDeploysAlongItsTrueCriticalPath(t *testing.T) {
	t.Parallel()
	for name, config := range map[string]map[string]string{
		"defaults": nil,
		"every option": {
			"network:sshPublicKey":    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGr6yqJ3+7sS0dC2m6hKYxA4nYqkq9d0m6Qm9ZzXqW3j operator@example",
			"kapsule:apiAllowedCidrs": mockcloud.List("51.15.100.0/24"),
			"gitlabHost:tls":          "false",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rs, err := sim.Record("dev", config, nil, stack.Deploy)
			require.NoError(t, err)
			rep, err := sim.DefaultModel().Simulate(rs)
			require.NoError(t, err)
			t.Logf("makespan %s, ideal %s, ratio %.3f: %s", sim.Dur(rep.Makespan), sim.Dur(rep.Ideal), rep.Ratio(), sim.PathString(rep.CriticalPath))

			assert.LessOrEqual(t, rep.Ratio(), 1.05, "the deploy waits for more than it must")
			assert.LessOrEqual(t, rep.ParallelMakespan, rep.Makespan*105/100, "the CLI's default --parallel slows the deploy")
			assert.Empty(t, rep.Violations, "a real requirement is not honoured")
			for _, u := range rep.Unneeded {
				assert.Fail(t, "a wait without a requirement", "%s waits for %s", u.Dependent.Name, u.On.Name)
			}

			cluster := only(t, rep, "scaleway:kubernetes/cluster:Cluster")
			pool := only(t, rep, "scaleway:kubernetes/pool:Pool")
			ready := only(t, rep, "gitlabwait:index:GitLabConfigured")
			server := only(t, rep, "scaleway:instance/server:Server")
			gwNet := only(t, rep, "scaleway:network/gatewayNetwork:GatewayNetwork")
			assert.Less(t, cluster.Start, ready.Finish, "the cluster is created while GitLab boots")
			assert.Less(t, pool.Start, ready.Finish, "the pool too")
			assert.Less(t, server.Start, gwNet.Finish, "the server boots while the gateway attaches")
			assert.GreaterOrEqual(t, pool.Start, gwNet.Finish, "private nodes wait for their route out")
			assert.Equal(t, ready.Start, ready.Finish-6*time.Minute)
		})
	}
}

// TestClustersDeploySideBySide: N clusters deploy in the time of one (the
// one-cluster stack's makespan, within 1.05), with or without the CLI's
// --parallel, and every wait still has its reason.
func TestClustersDeploySideBySide(t *testing.T) {
	t.Parallel()
	simulate := func(config map[string]string) *sim.Report {
		rs, err := sim.Record("dev", config, nil, stack.Deploy)
		require.NoError(t, err)
		rep, err := sim.DefaultModel().Simulate(rs)
		require.NoError(t, err)
		return rep
	}
	one := simulate(nil)
	for _, n := range sim.ClusterCounts {
		rep := simulate(sim.ClusterConfig(n))
		t.Logf("%d clusters: makespan %s (--parallel %d: %s), one-cluster stack %s, ratio %.3f",
			n, sim.Dur(rep.Makespan), rep.Parallel, sim.Dur(rep.ParallelMakespan), sim.Dur(one.Makespan), float64(rep.Makespan)/float64(one.Makespan))
		assert.Len(t, slotsOf(rep, "scaleway:kubernetes/cluster:Cluster"), n, "the simulation has %d clusters", n)
		assert.LessOrEqual(t, rep.Makespan, one.Makespan*105/100, "%d clusters take longer than one", n)
		assert.LessOrEqual(t, rep.ParallelMakespan, one.ParallelMakespan*105/100, "%d clusters take longer than one with --parallel", n)
		assert.Empty(t, rep.Violations, "a real requirement is not honoured")
		assert.Empty(t, rep.Unneeded, "a wait without a requirement")
	}
}

func only(t *testing.T, rep *sim.Report, typ string) sim.Slot {
	t.Helper()
	found := slotsOf(rep, typ)
	require.Len(t, found, 1, typ)
	return found[0]
}

func slotsOf(rep *sim.Report, typ string) []sim.Slot {
	var found []sim.Slot
	for _, s := range rep.Schedule {
		if s.Type == typ {
			found = append(found, s)
		}
	}
	return found
}

// TestRecordSeesDependsOnComponentsAndProviders runs a small program with a
// needless wait through a component's DependsOn and a provider, under the
// same mocks, and checks the simulator sees both.
func TestRecordSeesDependsOnComponentsAndProviders(t *testing.T) {
	t.Parallel()
	rs, err := sim.Record("dev", nil, nil, func(ctx *pulumi.Context) error {
		vpc, err := network.NewVpc(ctx, "vpc", &network.VpcArgs{})
		if err != nil {
			return err
		}
		pn, err := network.NewPrivateNetwork(ctx, "pn", &network.PrivateNetworkArgs{VpcId: vpc.ID()})
		if err != nil {
			return err
		}
		server, err := instance.NewServer(ctx, "server", &instance.ServerArgs{Type: pulumi.String("DEV1-L"), Image: pulumi.String("ubuntu_noble")})
		if err != nil {
			return err
		}
		cluster, err := scwk8s.NewCluster(ctx, "cluster", &scwk8s.ClusterArgs{
			PrivateNetworkId: pn.ID(), Version: pulumi.String("1.34.1"), Cni: pulumi.String("cilium"), DeleteAdditionalResources: pulumi.Bool(true),
		})
		if err != nil {
			return err
		}
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{Kubeconfig: cluster.ApiserverUrl})
		if err != nil {
			return err
		}
		// A component that waits for the server for no reason, and passes the
		// Kubernetes provider to its children.
		comp := &struct{ pulumi.ResourceState }{}
		if err := ctx.RegisterComponentResource("gitlab-kapsule:index:Demo", "demo", comp,
			pulumi.DependsOn([]pulumi.Resource{server}), pulumi.Providers(k8s)); err != nil {
			return err
		}
		_, err = scwk8s.NewAcl(ctx, "acl", &scwk8s.AclArgs{ClusterId: cluster.ID()}, pulumi.Parent(comp))
		return err
	})
	require.NoError(t, err)
	rep, err := sim.DefaultModel().Simulate(rs)
	require.NoError(t, err)

	acl := only(t, rep, "scaleway:kubernetes/acl:Acl")
	assert.Equal(t, 5*time.Minute+4*time.Second, acl.Start, "the ACL waits for the cluster, through the component's provider too")
	var unneeded []string
	for _, u := range rep.Unneeded {
		unneeded = append(unneeded, u.Dependent.Name+" waits for "+u.On.Name)
	}
	assert.ElementsMatch(t, []string{"acl waits for server", "acl waits for k8s"}, unneeded,
		"the component's DependsOn and its provider reach its child")
}

// TestProgramChecksCatchABrokenGraph edits the recorded graph of the real
// program the way a careless change would, and checks the simulator sees it:
// a cluster waiting for GitLab breaks the ratio, and a pool no longer
// waiting for the gateway network breaks a requirement.
func TestProgramChecksCatchABrokenGraph(t *testing.T) {
	t.Parallel()
	record := func(edit func(r *sim.Resource, urn map[string]string)) ([]sim.Resource, *sim.Report) {
		rs, err := sim.Record("dev", nil, nil, stack.Deploy)
		require.NoError(t, err)
		urn := map[string]string{}
		for _, r := range rs {
			urn[r.Type] = r.URN
		}
		for i := range rs {
			edit(&rs[i], urn)
		}
		rep, err := sim.DefaultModel().Simulate(rs)
		require.NoError(t, err)
		return rs, rep
	}

	rs, rep := record(func(r *sim.Resource, urn map[string]string) {
		if r.Type == "scaleway:kubernetes/cluster:Cluster" {
			r.Dependencies = append(r.Dependencies, urn["gitlabwait:index:GitLabConfigured"])
		}
	})
	assert.Greater(t, rep.Ratio(), 1.05)
	assert.Contains(t, rep.Unneeded, sim.Wait{Dependent: pick(rs, "kapsule-cluster"), On: pick(rs, "gitlab-configured")})
	assert.Empty(t, rep.Violations)

	_, rep = record(func(r *sim.Resource, urn map[string]string) {
		if r.Type == "scaleway:kubernetes/pool:Pool" {
			r.Dependencies = slices.DeleteFunc(r.Dependencies, func(d string) bool {
				return d == urn["scaleway:network/gatewayNetwork:GatewayNetwork"]
			})
		}
	})
	require.Len(t, rep.Violations, 1)
	assert.Equal(t, "kapsule-pool", rep.Violations[0].Dependent.Name)
	assert.Equal(t, "scaleway:network/gatewayNetwork:GatewayNetwork", rep.Violations[0].Needs)
}

func pick(rs []sim.Resource, name string) sim.Resource {
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	return sim.Resource{}
}

package components

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	scwk8s "github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/kubernetes"
)

// KapsuleReservedRanges are the ranges a Kapsule cluster keeps for its
// services and pods: Kapsule's defaults, fixed when the cluster is created
// and left alone by this component (FACTS.md "Private network subnets": pods
// 100.64.0.0/15, services 10.32.0.0/20, as a recorded API run in
// terraform-provider-scaleway k8s testdata shows). A private network that
// overlaps them breaks routing in the cluster, so the configuration is
// checked against them before anything is created.
var KapsuleReservedRanges = []config.ReservedRange{
	{Name: "Kapsule's service range", Prefix: netip.MustParsePrefix("10.32.0.0/20")},
	{Name: "Kapsule's pod range", Prefix: netip.MustParsePrefix("100.64.0.0/15")},
}

// KapsuleArgs configures a Kapsule cluster.
type KapsuleArgs struct {
	// Prefix starts every resource name, e.g. "glk-dev".
	Prefix string
	// Region places the cluster and its pool.
	Region string
	// Version is a minor ("1.36"), which turns auto-upgrade on so Scaleway
	// applies patch releases, or a full version ("1.36.1"), pinned with
	// auto-upgrade off. The provider refuses the other mixes
	// (terraform-provider-scaleway internal/services/k8s/cluster.go).
	Version string
	// CNI is the network plugin: cilium, calico or cilium_native.
	CNI string
	// NodeType and Size shape the node pool.
	NodeType string
	Size     int
	// PrivateNetworkID is the network the cluster and its nodes join.
	PrivateNetworkID pulumi.StringInput
	// GatewayNetworkID is the gateway's attachment: private nodes have no
	// public address, so they reach images and Scaleway's control plane only
	// through it, and the pool must not boot before it exists.
	GatewayNetworkID pulumi.StringInput
	// GatewayIP is admitted to the API, since GitLab and anything else in the
	// private network reach the API's public endpoint through the gateway's NAT.
	GatewayIP pulumi.StringInput
	// APIAllowedCIDRs are the operators' ranges admitted to the API. Empty
	// leaves the API open to the internet (token-authenticated), with a warning.
	APIAllowedCIDRs []string
}

// Kapsule is a Kubernetes cluster on the private network, with a pool of
// nodes that have no public address, and the Kubernetes provider built from
// its kubeconfig for the components that deploy into it.
type Kapsule struct {
	pulumi.ResourceState

	// ClusterID is the Kapsule cluster's id.
	ClusterID pulumi.StringOutput `pulumi:"clusterId"`
	// APIServerURL is the cluster's API endpoint.
	APIServerURL pulumi.StringOutput `pulumi:"apiServerUrl"`
	// Kubeconfig is an admin kubeconfig for the cluster (secret).
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	// NodePoolID is the ready node pool: whatever runs pods waits for it.
	NodePoolID pulumi.StringOutput `pulumi:"nodePoolId"`
	// Provider deploys into the cluster; built once here and handed on.
	Provider *kubernetes.Provider
}

// KapsuleClusterName is the name of a stack's cluster: the preflight finds
// the live cluster by it.
func KapsuleClusterName(prefix string) string { return prefix + "-kapsule" }

// IsKapsuleMinor reports whether a Kapsule version names a minor ("1.36")
// rather than a full version ("1.36.1").
func IsKapsuleMinor(version string) bool {
	return strings.Count(version, ".") == 1
}

// NewKapsule creates the cluster, its private node pool and its API access list.
func NewKapsule(ctx *pulumi.Context, name string, args *KapsuleArgs, opts ...pulumi.ResourceOption) (*Kapsule, error) {
	if args == nil || args.Prefix == "" || args.Version == "" || args.PrivateNetworkID == nil || args.GatewayIP == nil {
		return nil, fmt.Errorf("kapsule %q: Prefix, Version, PrivateNetworkID and GatewayIP are required", name)
	}
	comp := &Kapsule{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:Kapsule", name, comp, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(comp)

	cluster, err := scwk8s.NewCluster(ctx, name+"-cluster", &scwk8s.ClusterArgs{
		Name:             pulumi.String(KapsuleClusterName(args.Prefix)),
		Region:           pulumi.String(args.Region),
		Version:          pulumi.String(args.Version),
		Cni:              pulumi.String(args.CNI),
		PrivateNetworkId: args.PrivateNetworkID,
		// Load balancers and volumes that workloads create go with the
		// cluster, so `pulumi destroy` leaves nothing billable behind.
		DeleteAdditionalResources: pulumi.Bool(true),
		// Scaleway offers only the latest patch of each supported minor for
		// new clusters, so a pinned patch soon cannot be created again; a
		// minor lets Scaleway apply patches in the maintenance window.
		AutoUpgrade: &scwk8s.ClusterAutoUpgradeArgs{
			Enable: pulumi.Bool(IsKapsuleMinor(args.Version)), MaintenanceWindowDay: pulumi.String("any"), MaintenanceWindowStartHour: pulumi.Int(3),
		},
		Tags: pulumi.StringArray{pulumi.String("gitlab-kapsule"), pulumi.String(args.Prefix)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("kapsule %q: cluster: %w", name, err)
	}

	clusterID := cluster.ID().ToStringOutput()
	if args.GatewayNetworkID != nil {
		clusterID = after(clusterID, args.GatewayNetworkID)
	}
	pool, err := scwk8s.NewPool(ctx, name+"-pool", &scwk8s.PoolArgs{
		Name:             pulumi.String(args.Prefix + "-pool"),
		Region:           pulumi.String(args.Region),
		ClusterId:        clusterID,
		NodeType:         pulumi.String(args.NodeType),
		Size:             pulumi.Int(args.Size),
		PublicIpDisabled: pulumi.Bool(true),
		Autohealing:      pulumi.Bool(true),
		WaitForPoolReady: pulumi.Bool(true),
		Tags:             pulumi.StringArray{pulumi.String("gitlab-kapsule"), pulumi.String(args.Prefix)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("kapsule %q: pool: %w", name, err)
	}

	if len(args.APIAllowedCIDRs) == 0 {
		_ = ctx.Log.Warn("kapsule:apiAllowedCidrs is empty, so the Kubernetes API stays reachable from the whole internet (it still needs a token): set it to your operators' ranges", &pulumi.LogArgs{Resource: comp})
	} else {
		rules := scwk8s.AclAclRuleArray{&scwk8s.AclAclRuleArgs{
			Ip:          pulumi.Sprintf("%s/32", args.GatewayIP),
			Description: pulumi.String("Public Gateway NAT: GitLab and CI in the private network"),
		}}
		for _, cidr := range args.APIAllowedCIDRs {
			rules = append(rules, &scwk8s.AclAclRuleArgs{Ip: pulumi.String(cidr), Description: pulumi.String("operators (kapsule:apiAllowedCidrs)")})
		}
		if _, err := scwk8s.NewAcl(ctx, name+"-acl", &scwk8s.AclArgs{
			ClusterId: cluster.ID(),
			Region:    pulumi.String(args.Region),
			AclRules:  rules,
		}, parent); err != nil {
			return nil, fmt.Errorf("kapsule %q: api access list: %w", name, err)
		}
	}

	kubeconfig := pulumi.ToSecret(cluster.Kubeconfigs.Index(pulumi.Int(0)).ConfigFile().Elem()).(pulumi.StringOutput)
	provider, err := kubernetes.NewProvider(ctx, name+"-k8s", &kubernetes.ProviderArgs{
		// Not gated on the pool: namespaces, RBAC and CRDs need no node and go
		// in as soon as the API answers. Workloads wait on NodePoolID.
		Kubeconfig: kubeconfig,
		// Server-side apply: conflicts are reported, not silently overwritten.
		EnableServerSideApply: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("kapsule %q: kubernetes provider: %w", name, err)
	}

	comp.ClusterID = cluster.ID().ToStringOutput()
	comp.APIServerURL = cluster.ApiserverUrl
	comp.Kubeconfig = kubeconfig
	comp.NodePoolID = pool.ID().ToStringOutput()
	comp.Provider = provider
	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{
		"clusterId":    comp.ClusterID,
		"apiServerUrl": comp.APIServerURL,
		"kubeconfig":   comp.Kubeconfig,
		"nodePoolId":   comp.NodePoolID,
	}); err != nil {
		return nil, err
	}
	return comp, nil
}

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
	// Cluster is the cluster's name in the stack; its Scaleway name is
	// "<prefix>-<cluster>". config.DefaultClusterName when empty.
	Cluster string
	// Region places the cluster and its pool.
	Region string
	// Version is a minor ("1.36"), which turns auto-upgrade on so Scaleway
	// applies patch releases, or a full version ("1.36.1"), pinned with
	// auto-upgrade off. The provider refuses the other mixes
	// (terraform-provider-scaleway internal/services/k8s/cluster.go).
	Version string
	// CNI is the network plugin: cilium, calico or cilium_native.
	CNI string
	// Pools are the node pools (one at least); their nodes have no public
	// address. Each pool's Scaleway name is "<prefix>-<pool>".
	Pools []config.Pool
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
	// leaves the API open to the internet (token-authenticated), with a
	// warning that names APIAllowedCIDRsKey (kapsule:apiAllowedCidrs when empty).
	APIAllowedCIDRs    []string
	APIAllowedCIDRsKey string
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
	// NodePoolID is known once every pool is ready (their ids, comma
	// separated): whatever runs pods waits for it.
	NodePoolID pulumi.StringOutput `pulumi:"nodePoolId"`
	// Provider deploys into the cluster; built once here and handed on.
	Provider *kubernetes.Provider
}

// IsKapsuleMinor reports whether a Kapsule version names a minor ("1.36")
// rather than a full version ("1.36.1").
func IsKapsuleMinor(version string) bool {
	return strings.Count(version, ".") == 1
}

// NewKapsule creates the cluster, its private node pool and its API access list.
func NewKapsule(ctx *pulumi.Context, name string, args *KapsuleArgs, opts ...pulumi.ResourceOption) (*Kapsule, error) {
	if args == nil || args.Prefix == "" || args.Version == "" || len(args.Pools) == 0 || args.PrivateNetworkID == nil || args.GatewayIP == nil {
		return nil, fmt.Errorf("kapsule %q: Prefix, Version, Pools, PrivateNetworkID and GatewayIP are required", name)
	}
	comp := &Kapsule{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:Kapsule", name, comp, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(comp)

	cluster, err := scwk8s.NewCluster(ctx, name+"-cluster", &scwk8s.ClusterArgs{
		Name:             pulumi.String(KapsuleClusterName(args.Prefix, args.Cluster)),
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
	var poolIDs []any
	for _, p := range args.Pools {
		pool, err := newPool(ctx, name, args, p, clusterID, parent)
		if err != nil {
			return nil, err
		}
		poolIDs = append(poolIDs, pool.ID())
	}
	ready := pulumi.All(poolIDs...).ApplyT(func(ids []any) string {
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = string(id.(pulumi.ID))
		}
		return strings.Join(s, ",")
	}).(pulumi.StringOutput)

	aclKey := args.APIAllowedCIDRsKey
	if aclKey == "" {
		aclKey = "kapsule:apiAllowedCidrs"
	}
	if len(args.APIAllowedCIDRs) == 0 {
		_ = ctx.Log.Warn(aclKey+" is empty, so the Kubernetes API stays reachable from the whole internet (it still needs a token): set it to your operators' ranges", &pulumi.LogArgs{Resource: comp})
	} else {
		rules := scwk8s.AclAclRuleArray{&scwk8s.AclAclRuleArgs{
			Ip:          pulumi.Sprintf("%s/32", args.GatewayIP),
			Description: pulumi.String("Public Gateway NAT: GitLab and CI in the private network"),
		}}
		// Named after the cluster, not its place in the list, so reordering
		// kapsule:clusters changes no rule.
		who := "operators (kapsule:apiAllowedCidrs)"
		if args.APIAllowedCIDRsKey != "" && args.APIAllowedCIDRsKey != "kapsule:apiAllowedCidrs" {
			who = "operators (apiAllowedCidrs of cluster " + args.Cluster + ")"
		}
		for _, cidr := range args.APIAllowedCIDRs {
			rules = append(rules, &scwk8s.AclAclRuleArgs{Ip: pulumi.String(cidr), Description: pulumi.String(who)})
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
	comp.NodePoolID = ready
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

// newPool creates one node pool of the cluster. Its logical name is the
// cluster's followed by the pool's ("kapsule-pool" for the one-cluster
// stack's). With autoscaling, the size is Scaleway's to change, so `up`
// leaves it alone after the pool is created.
func newPool(ctx *pulumi.Context, name string, args *KapsuleArgs, p config.Pool, clusterID pulumi.StringInput, parent pulumi.ResourceOption) (*scwk8s.Pool, error) {
	tags := pulumi.StringArray{pulumi.String("gitlab-kapsule"), pulumi.String(args.Prefix)}
	for _, t := range p.Tags {
		tags = append(tags, pulumi.String(t))
	}
	pa := &scwk8s.PoolArgs{
		Name:             pulumi.String(args.Prefix + "-" + p.Name),
		Region:           pulumi.String(args.Region),
		ClusterId:        clusterID,
		NodeType:         pulumi.String(p.NodeType),
		Size:             pulumi.Int(p.Size),
		PublicIpDisabled: pulumi.Bool(true),
		Autohealing:      pulumi.Bool(p.Autohealing),
		WaitForPoolReady: pulumi.Bool(true),
		Tags:             tags,
	}
	opts := []pulumi.ResourceOption{parent}
	if p.Autoscaling {
		pa.Autoscaling = pulumi.Bool(true)
		pa.MinSize = pulumi.Int(p.MinSize)
		pa.MaxSize = pulumi.Int(p.MaxSize)
		opts = append(opts, pulumi.IgnoreChanges([]string{"size"}))
	}
	if p.RootVolumeSizeGB > 0 {
		pa.RootVolumeSizeInGb = pulumi.Int(p.RootVolumeSizeGB)
	}
	if p.Zone != "" {
		pa.Zone = pulumi.String(p.Zone)
	}
	pool, err := scwk8s.NewPool(ctx, name+"-"+p.Name, pa, opts...)
	if err != nil {
		return nil, fmt.Errorf("kapsule %q: pool %s: %w", name, p.Name, err)
	}
	return pool, nil
}

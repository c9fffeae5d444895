package components

import (
	"fmt"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// FluxArgs configures a Flux installation.
type FluxArgs struct {
	// KubernetesProvider deploys into the cluster (from Kapsule).
	KubernetesProvider *kubernetes.Provider
	// NodePoolID gates the release: Flux's controllers need nodes.
	NodePoolID pulumi.StringInput
	// Namespace is Flux's namespace; config.FluxNamespace when empty.
	Namespace string
	// AgentNamespace is agentk's namespace, whose service account gets the
	// read access its Flux module needs; config.AgentNamespace when empty.
	AgentNamespace string
	// ChartVersion pins the flux2 chart (gitops:fluxChartVersion).
	ChartVersion string
}

// Flux is Flux's source, kustomize and notification controllers with their
// CRDs, and agentk's access to them. It needs nothing from GitLab, so it is
// installed before agentk: agentk's Flux module reads Flux's CRDs once, when
// it starts, and stays off until restarted if they are missing or forbidden
// (gitlab-agent internal/module/flux/agent module.go, isFluxInstalled).
type Flux struct {
	pulumi.ResourceState

	// NamespaceName is Flux's namespace.
	NamespaceName pulumi.StringOutput `pulumi:"namespace"`
	// NamespaceValue is the same name as a plain string, known at once, for
	// the objects the GitOps demo puts there.
	NamespaceValue string
	// Namespace is its resource: Flux's objects go in once it exists.
	Namespace *corev1.Namespace
	// Installed are what must exist before agentk starts and before Flux
	// objects are created: the release (with the CRDs) and agentk's RBAC.
	Installed []pulumi.Resource
}

// NewFlux installs Flux with the fluxcd-community flux2 chart and gives
// agentk the least access its Flux module needs.
func NewFlux(ctx *pulumi.Context, name string, args *FluxArgs, opts ...pulumi.ResourceOption) (*Flux, error) {
	if args == nil || args.KubernetesProvider == nil || args.ChartVersion == "" {
		return nil, fmt.Errorf("flux %q: KubernetesProvider and ChartVersion are required", name)
	}
	a := *args
	if a.Namespace == "" {
		a.Namespace = config.FluxNamespace
	}
	if a.AgentNamespace == "" {
		a.AgentNamespace = config.AgentNamespace
	}
	comp := &Flux{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:Flux", name, comp, opts...); err != nil {
		return nil, err
	}
	onCluster := []pulumi.ResourceOption{pulumi.Parent(comp), pulumi.Provider(a.KubernetesProvider)}
	ns, err := newNamespace(ctx, name+"-namespace", a.Namespace, onCluster...)
	if err != nil {
		return nil, fmt.Errorf("flux %q: namespace: %w", name, err)
	}
	// Flux's controllers need nodes: the release waits for the pool.
	release, err := newChartRelease(ctx, name+"-release", chartRelease{
		Name: "flux", Chart: FluxChart, Repo: FluxChartRepo, Version: a.ChartVersion,
		Namespace: ns, NodePoolID: a.NodePoolID, Values: pulumi.ToMap(FluxHelmValues()),
	}, onCluster...)
	if err != nil {
		return nil, fmt.Errorf("flux %q: release: %w", name, err)
	}

	installed := []pulumi.Resource{release}
	rbac := AgentFluxRBAC(a.AgentNamespace, a.Namespace)
	inNamespace := append(onCluster, pulumi.DependsOn([]pulumi.Resource{ns}))
	role, binding, err := newRole(ctx, name, rbac.Role, rbac.RoleBinding, inNamespace)
	if err != nil {
		return nil, fmt.Errorf("flux %q: %w", name, err)
	}
	clusterRole, clusterBinding, err := newClusterRole(ctx, name, rbac.ClusterRole, rbac.ClusterRoleBinding, onCluster)
	if err != nil {
		return nil, fmt.Errorf("flux %q: %w", name, err)
	}
	installed = append(installed, role, binding, clusterRole, clusterBinding)

	comp.Namespace = ns
	comp.NamespaceName = ns.Metadata.Name().Elem()
	comp.NamespaceValue = a.Namespace
	comp.Installed = installed
	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{"namespace": comp.NamespaceName}); err != nil {
		return nil, err
	}
	return comp, nil
}

package components

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// chartRelease is a pinned Helm chart from a repository, installed into a
// namespace once the node pool exists.
type chartRelease struct {
	// Name is the Helm release's name; Chart, Repo and Version pin the chart.
	Name, Chart, Repo, Version string
	// Namespace is where it goes.
	Namespace *corev1.Namespace
	// NodePoolID gates the release: its pods need nodes. nil: no gate.
	NodePoolID pulumi.StringInput
	// Values are the chart values.
	Values pulumi.MapInput
}

// newChartRelease installs c atomically (a failed install or upgrade rolls
// back instead of leaving a half-installed release), waiting up to ten
// minutes for its pods.
func newChartRelease(ctx *pulumi.Context, name string, c chartRelease, opts ...pulumi.ResourceOption) (*helmv3.Release, error) {
	version := pulumi.String(c.Version).ToStringOutput()
	if c.NodePoolID != nil {
		version = after(version, c.NodePoolID)
	}
	return helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
		Name:           pulumi.String(c.Name),
		Chart:          pulumi.String(c.Chart),
		Version:        version,
		RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(c.Repo)},
		Namespace:      c.Namespace.Metadata.Name().Elem(),
		Values:         c.Values,
		Atomic:         pulumi.Bool(true),
		Timeout:        pulumi.Int(600),
	}, opts...)
}

// ClusterFooting is what a component declares in a cluster before its Helm
// release: its own namespace, and everything made, which the release waits for.
type ClusterFooting struct {
	// Namespace is the component's own namespace (agentk's, the runner's).
	Namespace *corev1.Namespace
	// Resources are everything created.
	Resources []pulumi.Resource
}

package components

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Every Kubernetes object the program creates carries Kubernetes'
// recommended managed-by label, so one selector finds them all:
// kubectl get all -A -l app.kubernetes.io/managed-by=gitlab-kapsule.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = "gitlab-kapsule"
)

// managedLabels are the labels, for objects built as Kubernetes types.
func managedLabels() map[string]string { return map[string]string{managedByLabel: managedByValue} }

// managedLabelArgs are the labels as Pulumi inputs.
func managedLabelArgs() pulumi.StringMap { return pulumi.ToStringMap(managedLabels()) }

// newNamespace creates the namespace ns, labelled as the program's.
func newNamespace(ctx *pulumi.Context, resourceName, ns string, opts ...pulumi.ResourceOption) (*corev1.Namespace, error) {
	return corev1.NewNamespace(ctx, resourceName, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(ns), Labels: managedLabelArgs()},
	}, opts...)
}

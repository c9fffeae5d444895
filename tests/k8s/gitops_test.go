package k8s

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/manifests"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// The namespaces of these tests: the real names, which no other test uses.
const (
	fluxNS = config.FluxNamespace
	demoNS = config.GitOpsDemoNamespace
)

// Labels kustomize-controller puts on what it applies; pruning finds the
// objects of one Kustomization by them.
const (
	fluxNameLabel      = "kustomize.toolkit.fluxcd.io/name"
	fluxNamespaceLabel = "kustomize.toolkit.fluxcd.io/namespace"
)

// namespaces creates the test's namespaces and deletes them at the end.
func namespaces(t *testing.T, kube *harness.Kube, names ...string) {
	t.Helper()
	for _, ns := range names {
		mustCreate(t, func() error {
			_, err := kube.Clientset.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			return err
		})
		t.Cleanup(func() {
			_ = kube.Clientset.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		})
	}
}

// demoObjects reads the objects the demo's kustomization.yaml lists, as
// committed to GitLab.
func demoObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	raw, err := fs.ReadFile(manifests.Demo, manifests.DemoDir+"/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct{ Resources []string }
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range k.Resources {
		raw, err := fs.ReadFile(manifests.Demo, manifests.DemoDir+"/"+r)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &u.Object); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		objs = append(objs, u)
	}
	return objs
}

func demoSync() components.FluxSync {
	return components.FluxSync{
		URL: "https://10.0.0.10/root/kubernetes-agent.git", Branch: "main",
		Namespace: fluxNS, DemoNamespace: demoNS, Interval: time.Minute, Timeout: 5 * time.Minute,
	}
}

// TestFluxObjectsAreAccepted: the Secret, GitRepository and Kustomization
// the GitOpsDemo component renders, the Receiver agentk would create, and the
// demo manifests are accepted by a real API server with Flux's CRDs, whose
// schemas do reject a malformed object; and agentk's Role in flux-system
// allows the receiver path and nothing that applies workloads.
func TestFluxObjectsAreAccepted(t *testing.T) {
	kube := harness.SharedKube(t)
	harness.FluxCRDs(t, kube)
	namespaces(t, kube, fluxNS, demoNS, "flux-agent")
	ctx := t.Context()
	c := kube.Client

	mustCreate(t, func() error {
		_, err := kube.Clientset.CoreV1().Secrets(fluxNS).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: components.DemoAuthSecret},
			Type:       corev1.SecretTypeOpaque,
			StringData: map[string]string{"username": "flux-gitops-demo", "password": "gldt-test", "ca.crt": "-----BEGIN CERTIFICATE-----\n"},
		}, metav1.CreateOptions{})
		return err
	})
	for _, o := range demoSync().Objects() {
		u := &unstructured.Unstructured{Object: o}
		mustCreate(t, func() error { return c.Create(ctx, u) })
		// Nothing was dropped by the schema: what was sent is what is stored.
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(u.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
			t.Fatal(err)
		}
		want := o["spec"].(map[string]any)
		for k := range want {
			if _, ok := got.Object["spec"].(map[string]any)[k]; !ok {
				t.Errorf("%s: spec.%s was pruned by the CRD schema: the field does not exist in this API version", u.GetKind(), k)
			}
		}
	}
	receiver := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
		"metadata": map[string]any{"name": "gitops-demo-gitlab", "namespace": fluxNS},
		"spec": map[string]any{
			"type":      "generic",
			"secretRef": map[string]any{"name": "gitops-demo-receiver-token"},
			"resources": []any{map[string]any{"apiVersion": components.GitRepositoryAPIVersion, "kind": "GitRepository", "name": components.DemoName}},
		},
	}}
	mustCreate(t, func() error { return c.Create(ctx, receiver) })

	// Negative controls: the CRDs validate.
	bad := demoSync()
	bad.URL = "git@10.0.0.10:root/kubernetes-agent.git"
	badRepo := &unstructured.Unstructured{Object: bad.Objects()[0]}
	badRepo.SetName("bad-url")
	if err := c.Create(ctx, badRepo); !apierrors.IsInvalid(err) {
		t.Errorf("a GitRepository with a scp-style URL must be rejected, got %v", err)
	}
	noSource := &unstructured.Unstructured{Object: demoSync().Objects()[1]}
	noSource.SetName("no-source")
	unstructured.RemoveNestedField(noSource.Object, "spec", "sourceRef")
	if err := c.Create(ctx, noSource); !apierrors.IsInvalid(err) {
		t.Errorf("a Kustomization without sourceRef must be rejected, got %v", err)
	}

	// The demo manifests, server-side applied for real (a dry run first).
	for _, u := range demoObjects(t) {
		if err := c.Patch(ctx, u.DeepCopy(), client.Apply, client.FieldOwner("test"), client.DryRunAll); err != nil {
			t.Errorf("dry-run apply %s/%s: %v", u.GetKind(), u.GetName(), err)
		}
	}

	// agentk's access in flux-system: the receiver path only.
	access := components.AgentFluxRBAC("flux-agent", fluxNS)
	mustCreate(t, func() error {
		_, err := kube.Clientset.RbacV1().Roles(fluxNS).Create(ctx, &access.Role, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := kube.Clientset.RbacV1().RoleBindings(fluxNS).Create(ctx, &access.RoleBinding, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := kube.Clientset.RbacV1().ClusterRoles().Create(ctx, &access.ClusterRole, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := kube.Clientset.RbacV1().ClusterRoleBindings().Create(ctx, &access.ClusterRoleBinding, metav1.CreateOptions{})
		return err
	})
	agent := harness.ServiceAccountUser("flux-agent", components.AgentServiceAccount)
	// The authorizer sees a new RoleBinding through its informers, a moment later.
	eventually(t, kube, "agentk's Role in flux-system to take effect", func(ctx context.Context) (bool, error) {
		return harness.Access(ctx, kube.Clientset, agent, "list", "gitrepositories.source.toolkit.fluxcd.io", fluxNS)
	})
	eventually(t, kube, "agentk's ClusterRole to take effect", func(ctx context.Context) (bool, error) {
		return harness.Access(ctx, kube.Clientset, agent, "list", "gitrepositories.source.toolkit.fluxcd.io", "")
	})
	for _, tc := range []struct {
		verb, resource, namespace string
		want                      bool
	}{
		{"watch", "gitrepositories.source.toolkit.fluxcd.io", fluxNS, true},
		{"create", "receivers.notification.toolkit.fluxcd.io", fluxNS, true},
		{"create", "secrets", fluxNS, true},
		{"update", "gitrepositories.source.toolkit.fluxcd.io", fluxNS, false},
		{"create", "kustomizations.kustomize.toolkit.fluxcd.io", fluxNS, false},
		{"create", "deployments.apps", fluxNS, false},
		{"create", "receivers.notification.toolkit.fluxcd.io", demoNS, false},
		{"get", "secrets", demoNS, false},
		{"create", "rolebindings.rbac.authorization.k8s.io", fluxNS, false},
		// Cluster-wide, what agentk's Flux module needs at start and for
		// its informers (gitlab-agent internal/module/flux/agent), no more.
		{"list", "gitrepositories.source.toolkit.fluxcd.io", "", true},
		{"watch", "receivers.notification.toolkit.fluxcd.io", "", true},
		{"create", "receivers.notification.toolkit.fluxcd.io", "", false},
		{"list", "secrets", "", false},
		{"list", "customresourcedefinitions.apiextensions.k8s.io", "", false},
	} {
		if got := harness.Expect(t, kube.Clientset, agent, tc.verb, tc.resource, tc.namespace, tc.want); got != tc.want {
			t.Errorf("agentk Can(%s, %s, %q) = %v, want %v", tc.verb, tc.resource, tc.namespace, got, tc.want)
		}
	}
}

// applyAsFlux stands in for kustomize-controller: it server-side applies the
// objects with Flux's ownership labels and records them in the
// Kustomization's status inventory, then prunes what the previous inventory
// held and the new set no longer does.
func applyAsFlux(t *testing.T, c client.Client, ks *unstructured.Unstructured, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := t.Context()
	var entries []any
	keep := map[string]bool{}
	for _, o := range objs {
		u := o.DeepCopy()
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[fluxNameLabel], labels[fluxNamespaceLabel] = ks.GetName(), ks.GetNamespace()
		u.SetLabels(labels)
		if err := c.Patch(ctx, u, client.Apply, client.FieldOwner("kustomize-controller"), client.ForceOwnership); err != nil {
			t.Fatalf("apply %s/%s: %v", u.GetKind(), u.GetName(), err)
		}
		id := inventoryID(u)
		keep[id] = true
		entries = append(entries, map[string]any{"id": id, "v": u.GroupVersionKind().Version})
	}

	// Prune: whatever the last inventory lists that the new set lacks.
	old, _, _ := unstructured.NestedSlice(ks.Object, "status", "inventory", "entries")
	for _, e := range old {
		id := e.(map[string]any)["id"].(string)
		if keep[id] {
			continue
		}
		ns, name, group, kind := parseInventoryID(t, id)
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: e.(map[string]any)["v"].(string), Kind: kind})
		u.SetNamespace(ns)
		u.SetName(name)
		if err := c.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("prune %s: %v", id, err)
		}
	}

	// The inventory goes through the real CRD's status schema.
	if err := unstructured.SetNestedSlice(ks.Object, entries, "status", "inventory", "entries"); err != nil {
		t.Fatal(err)
	}
	if err := c.Status().Update(ctx, ks); err != nil {
		t.Fatalf("record the inventory in the Kustomization's status: %v", err)
	}
}

// inventoryID is Flux's inventory key of an object: namespace_name_group_kind.
func inventoryID(u *unstructured.Unstructured) string {
	return strings.Join([]string{u.GetNamespace(), u.GetName(), u.GroupVersionKind().Group, u.GetKind()}, "_")
}

func parseInventoryID(t *testing.T, id string) (ns, name, group, kind string) {
	t.Helper()
	parts := strings.Split(id, "_")
	if len(parts) != 4 {
		t.Fatalf("inventory id %q is not namespace_name_group_kind", id)
	}
	return parts[0], parts[1], parts[2], parts[3]
}

// TestGitOpsLoop simulates Flux's loop on the real API server: applying the
// Kustomization's resources creates nginx's Deployment and Service in
// gitops-demo with the demo's labels, the Deployment becomes available (the
// health check), and a commit that deletes service.yaml prunes the Service.
func TestGitOpsLoop(t *testing.T) {
	kube := harness.SharedKube(t)
	kube.PodsReady(t)
	harness.FluxCRDs(t, kube)
	namespaces(t, kube, fluxNS+"-loop", demoNS+"-loop")
	ctx := t.Context()
	c := kube.Client

	sync := demoSync()
	sync.Namespace, sync.DemoNamespace = fluxNS+"-loop", demoNS+"-loop"
	ks := &unstructured.Unstructured{Object: sync.Objects()[1]}
	mustCreate(t, func() error { return c.Create(ctx, ks) })

	// The manifests name gitops-demo; this test runs in its own namespace.
	objs := demoObjects(t)
	for _, o := range objs {
		if o.GetNamespace() != demoNS {
			t.Fatalf("%s/%s is in %q, not %q", o.GetKind(), o.GetName(), o.GetNamespace(), demoNS)
		}
		o.SetNamespace(sync.DemoNamespace)
	}
	applyAsFlux(t, c, ks, objs)

	dep, err := kube.Clientset.AppsV1().Deployments(sync.DemoNamespace).Get(ctx, components.DemoDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Deployment the health check names: %v", err)
	}
	if dep.Labels["app.kubernetes.io/name"] != "nginx" || dep.Labels[fluxNameLabel] != components.DemoName {
		t.Errorf("Deployment labels = %v", dep.Labels)
	}
	svc, err := kube.Clientset.CoreV1().Services(sync.DemoNamespace).Get(ctx, "nginx", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.Selector["app.kubernetes.io/name"] != "nginx" {
		t.Errorf("Service = %s selecting %v", svc.Spec.Type, svc.Spec.Selector)
	}
	eventually(t, kube, "nginx to be available (the Kustomization's health check)", func(ctx context.Context) (bool, error) {
		d, err := kube.Clientset.AppsV1().Deployments(sync.DemoNamespace).Get(ctx, components.DemoDeployment, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return deploymentAvailable(d), nil
	})

	// A commit deletes service.yaml: the next apply prunes the Service and
	// leaves the Deployment alone.
	if err := c.Get(ctx, client.ObjectKeyFromObject(ks), ks); err != nil {
		t.Fatal(err)
	}
	remaining := slices.DeleteFunc(objs, func(u *unstructured.Unstructured) bool { return u.GetKind() == "Service" })
	applyAsFlux(t, c, ks, remaining)
	eventually(t, kube, "the pruned Service to be gone", func(ctx context.Context) (bool, error) {
		_, err := kube.Clientset.CoreV1().Services(sync.DemoNamespace).Get(ctx, "nginx", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := kube.Clientset.AppsV1().Deployments(sync.DemoNamespace).Get(ctx, components.DemoDeployment, metav1.GetOptions{}); err != nil {
		t.Errorf("the Deployment must survive the prune: %v", err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(ks.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(ks), got); err != nil {
		t.Fatal(err)
	}
	entries, _, _ := unstructured.NestedSlice(got.Object, "status", "inventory", "entries")
	if len(entries) != 1 || !strings.HasSuffix(entries[0].(map[string]any)["id"].(string), "_apps_Deployment") {
		t.Errorf("inventory after the prune = %v, want only the Deployment", entries)
	}
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return d.Status.AvailableReplicas == *d.Spec.Replicas
		}
	}
	return false
}

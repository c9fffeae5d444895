package k8s

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// TestDeploymentReadyAndNamespaceGone: the controller-manager turns a
// Deployment into Pods, MarkPodsReady makes them ready so the Deployment
// becomes available and its Service gets endpoints, and deleting the
// Namespace removes it and everything in it.
func TestDeploymentReadyAndNamespaceGone(t *testing.T) {
	kube := harness.SharedKube(t)
	kube.PodsReady(t)
	ctx := t.Context()
	c := kube.Clientset
	const ns = "ready-demo"

	mustCreate(t, func() error {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		return err
	})
	labels := map[string]string{"app": "web"}
	replicas := int32(2)
	mustCreate(t, func() error {
		_, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "web", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
					}}},
				},
			},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}}},
		}, metav1.CreateOptions{})
		return err
	})

	eventually(t, kube, "the Deployment to have 2 available replicas", func(ctx context.Context) (bool, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 2 && d.Status.UpdatedReplicas == 2, err
	})
	eventually(t, kube, "the Service to have 2 ready endpoints", func(ctx context.Context) (bool, error) {
		ep, err := c.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{}) //nolint:staticcheck // what the Pulumi provider awaits
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		n := 0
		for _, s := range ep.Subsets {
			n += len(s.Addresses)
		}
		return n == 2, err
	})

	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, kube, "the Namespace to be gone", func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// TestAccess: SubjectAccessReviews answer as a Role and RoleBinding say.
func TestAccess(t *testing.T) {
	kube := harness.SharedKube(t)
	ctx := t.Context()
	c := kube.Clientset
	const ns = "access-demo"

	mustCreate(t, func() error {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		return err
	})
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	mustCreate(t, func() error {
		_, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "read-pods"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
			},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "reader-reads-pods"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "read-pods"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}},
		}, metav1.CreateOptions{})
		return err
	})

	reader := harness.ServiceAccountUser(ns, "reader")
	// The authorizer sees a new RoleBinding through its informers, a moment
	// later: without this wait the first check raced it (seen in CI).
	eventually(t, kube, "the reader's Role to take effect", func(ctx context.Context) (bool, error) {
		return harness.Access(ctx, c, reader, "get", "pods", ns)
	})
	for _, tc := range []struct {
		user, verb, resource, namespace string
		want                            bool
	}{
		{reader, "get", "pods", ns, true},
		{reader, "list", "pods", ns, true},
		{reader, "get", "pods/log", ns, true},
		{reader, "get", "deployments.apps", ns, true},
		{reader, "delete", "pods", ns, false},
		{reader, "get", "secrets", ns, false},
		{reader, "update", "deployments.apps", ns, false},
		{reader, "get", "pods", "default", false},
		{reader, "list", "pods", "", false},
		{"someone", "get", "pods", ns, false},
	} {
		if got := harness.Expect(t, c, tc.user, tc.verb, tc.resource, tc.namespace, tc.want); got != tc.want {
			t.Errorf("Can(%s, %s, %s, %q) = %v, want %v", tc.user, tc.verb, tc.resource, tc.namespace, got, tc.want)
		}
	}

	// A user bound to the built-in "edit" ClusterRole, whose rules the
	// controller-manager aggregates: edit may change workloads but not RBAC.
	mustCreate(t, func() error {
		_, err := c.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "ops-edits"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "ops"}},
		}, metav1.CreateOptions{})
		return err
	})
	eventually(t, kube, "ops to be allowed to delete Deployments", func(ctx context.Context) (bool, error) {
		return harness.Access(ctx, c, "ops", "delete", "deployments.apps", ns)
	})
	if harness.Can(t, c, "ops", "create", "rolebindings.rbac.authorization.k8s.io", ns) {
		t.Error("ops may create RoleBindings with the edit ClusterRole")
	}
}

func mustCreate(t *testing.T, create func() error) {
	t.Helper()
	if err := create(); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds, failing after a minute with the
// controller-manager's last log lines.
func eventually(t *testing.T, kube *harness.Kube, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	start := time.Now()
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v\nkube-controller-manager log:\n%s", what, err, kube.ControllerManagerLog(30))
	}
	t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
}

package k8s

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// TestAgentRBAC applies the Roles and RoleBindings that components.AgentRBAC
// renders (the very objects the Agent component creates) to a real API
// server, then proves least privilege with SubjectAccessReviews: the agent
// deploys into its namespaces and elects a leader in its own, and nothing
// else.
func TestAgentRBAC(t *testing.T) {
	kube := harness.SharedKube(t)
	ctx := t.Context()
	c := kube.Clientset
	// Namespaces of their own, so this test does not meet the others.
	const agentNS, demoNS = "rbac-gitlab-agent", "rbac-gitops-demo"

	for _, ns := range []string{agentNS, demoNS} {
		mustCreate(t, func() error {
			_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			return err
		})
		t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	}
	// The token Secret's shape, as the component creates it.
	mustCreate(t, func() error {
		_, err := c.CoreV1().Secrets(agentNS).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: components.AgentTokenSecret},
			Type:       corev1.SecretTypeOpaque,
			StringData: map[string]string{"token": "glagent-test"},
		}, metav1.CreateOptions{})
		return err
	})
	roles, bindings := components.AgentRBAC(agentNS, []string{demoNS})
	for i := range roles {
		mustCreate(t, func() error {
			_, err := c.RbacV1().Roles(roles[i].Namespace).Create(ctx, &roles[i], metav1.CreateOptions{})
			return err
		})
		mustCreate(t, func() error {
			_, err := c.RbacV1().RoleBindings(bindings[i].Namespace).Create(ctx, &bindings[i], metav1.CreateOptions{})
			return err
		})
	}

	agent := harness.ServiceAccountUser(agentNS, components.AgentServiceAccount)
	for _, tc := range []struct {
		verb, resource, namespace string
		want                      bool
	}{
		// What CI jobs acting as the agent need in the demo namespace.
		{"create", "deployments.apps", demoNS, true},
		{"patch", "deployments.apps", demoNS, true},
		{"delete", "deployments.apps", demoNS, true},
		{"create", "services", demoNS, true},
		{"create", "configmaps", demoNS, true},
		{"get", "pods/log", demoNS, true},
		{"create", "ingresses.networking.k8s.io", demoNS, true},
		// What agentk needs in its own namespace: leader election.
		{"create", "leases.coordination.k8s.io", agentNS, true},
		{"update", "leases.coordination.k8s.io", agentNS, true},
		// Nothing else.
		{"get", "secrets", "kube-system", false},
		{"list", "secrets", "", false},
		{"create", "clusterrolebindings.rbac.authorization.k8s.io", "", false},
		{"create", "rolebindings.rbac.authorization.k8s.io", demoNS, false},
		{"create", "roles.rbac.authorization.k8s.io", demoNS, false},
		{"create", "deployments.apps", "default", false},
		{"create", "deployments.apps", agentNS, false},
		{"get", "secrets", agentNS, false},
		{"delete", "namespaces", "", false},
		{"list", "nodes", "", false},
		{"create", "leases.coordination.k8s.io", demoNS, false},
	} {
		if got := harness.Expect(t, c, agent, tc.verb, tc.resource, tc.namespace, tc.want); got != tc.want {
			t.Errorf("agent Can(%s, %s, %q) = %v, want %v", tc.verb, tc.resource, tc.namespace, got, tc.want)
		}
	}
}

// TestAgentClusterAdminBindingIsAccepted: the binding agent:clusterAdmin
// creates is valid and does what it says (a server-side dry run of its shape
// would not prove the grant, so it is created, checked and removed).
func TestAgentClusterAdminBindingIsAccepted(t *testing.T) {
	kube := harness.SharedKube(t)
	ctx := t.Context()
	c := kube.Clientset
	const agentNS = "rbac-admin-agent"
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test-gitlab-agent-cluster-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: components.AgentServiceAccount, Namespace: agentNS}},
	}
	agent := harness.ServiceAccountUser(agentNS, components.AgentServiceAccount)
	if harness.Can(t, c, agent, "get", "secrets", "kube-system") {
		t.Fatal("the agent reads kube-system secrets before any binding")
	}
	mustCreate(t, func() error {
		_, err := c.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
		return err
	})
	t.Cleanup(func() {
		err := c.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	})
	if !harness.Expect(t, c, agent, "create", "clusterrolebindings.rbac.authorization.k8s.io", "", true) {
		t.Error("with agent:clusterAdmin the agent is cluster-admin")
	}
}

package components

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names of the agent's Kubernetes objects.
const (
	// AgentServiceAccount is agentk's service account, in its own namespace.
	AgentServiceAccount = "gitlab-agent"
	// AgentTokenSecret holds the agent token under the key "token".
	AgentTokenSecret = "gitlab-agent-token"
	// agentDeployerRole is the Role the agent gets in each namespace it deploys to.
	agentDeployerRole = "gitlab-agent-deployer"
	// agentSelfRole is the Role agentk needs in its own namespace.
	agentSelfRole = "gitlab-agent-self"
)

var allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
var readVerbs = []string{"get", "list", "watch"}

// AgentRBAC is the least-privilege access of the agent's service account:
// a Role and RoleBinding in each namespace it deploys to, and one in its own
// namespace for what agentk itself needs. Nothing is cluster-wide, and no
// rule touches RBAC objects, so the agent cannot grant itself more.
// The component creates exactly these objects; tests/k8s applies them to a
// real API server and proves them with SubjectAccessReviews.
func AgentRBAC(agentNamespace string, namespaces []string) ([]rbacv1.Role, []rbacv1.RoleBinding) {
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: AgentServiceAccount, Namespace: agentNamespace}
	var roles []rbacv1.Role
	var bindings []rbacv1.RoleBinding
	add := func(ns, name string, rules []rbacv1.PolicyRule) {
		meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: managedLabels()}
		roles = append(roles, rbacv1.Role{ObjectMeta: meta, Rules: rules})
		bindings = append(bindings, rbacv1.RoleBinding{
			ObjectMeta: meta,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{subject},
		})
	}
	// agentk elects a leader among its replicas with Leases and records
	// events; its token is a mounted Secret, read by no API call.
	add(agentNamespace, agentSelfRole, []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: allVerbs},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	})
	for _, ns := range namespaces {
		add(ns, agentDeployerRole, deployerRules())
	}
	return roles, bindings
}

// deployerRules are what CI jobs (which act as the agent through ci_access)
// need to ship ordinary workloads into a namespace.
func deployerRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims"}, Verbs: allVerbs},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: append(append([]string{}, readVerbs...), "delete")},
		{APIGroups: []string{""}, Resources: []string{"pods/log", "events", "endpoints"}, Verbs: readVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, Verbs: allVerbs},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: allVerbs},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: allVerbs},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: allVerbs},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: allVerbs},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: readVerbs},
	}
}

// agentFluxRole is the Role agentk gets in Flux's namespace for the
// receiver path, and agentFluxReader the ClusterRole its Flux module needs.
const (
	agentFluxRole   = "gitlab-agent-flux-receiver"
	agentFluxReader = "gitlab-agent-flux-reader"
)

// FluxCRDs are the CustomResourceDefinitions agentk's Flux module reads by
// name when it starts, to decide whether Flux is installed.
var FluxCRDs = []string{"gitrepositories.source.toolkit.fluxcd.io", "receivers.notification.toolkit.fluxcd.io"}

// AgentFluxAccess is what agentk's Flux module needs, and nothing more.
type AgentFluxAccess struct {
	// Role and RoleBinding, in Flux's namespace: manage the Receivers (and
	// their token Secrets) agentk server-side applies for the
	// GitRepositories there. An apply that creates counts as create.
	Role        rbacv1.Role
	RoleBinding rbacv1.RoleBinding
	// ClusterRole and ClusterRoleBinding: read Flux's two CRDs by name, and
	// list and watch GitRepositories and Receivers in every namespace,
	// because the module's informers have no namespace.
	ClusterRole        rbacv1.ClusterRole
	ClusterRoleBinding rbacv1.ClusterRoleBinding
}

// AgentFluxRBAC is agentk's access for its Flux module, which makes a push
// reconcile at once (gitlab-agent internal/module/flux/agent: module.go
// reads the CRDs by name at start, factory.go's dynamic informers list and
// watch GitRepositories and Receivers cluster-wide, gitrepository_controller.go
// server-side applies a Receiver and a Secret in the GitRepository's
// namespace). It grants nothing that applies workloads: Flux's
// kustomize-controller does that, under its own service account.
func AgentFluxRBAC(agentNamespace, fluxNamespace string) AgentFluxAccess {
	labels := managedLabels()
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: AgentServiceAccount, Namespace: agentNamespace}}
	meta := metav1.ObjectMeta{Name: agentFluxRole, Namespace: fluxNamespace, Labels: labels}
	clusterMeta := metav1.ObjectMeta{Name: agentFluxReader, Labels: labels}
	return AgentFluxAccess{
		Role: rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"source.toolkit.fluxcd.io"}, Resources: []string{"gitrepositories"}, Verbs: readVerbs},
			{APIGroups: []string{"notification.toolkit.fluxcd.io"}, Resources: []string{"receivers"}, Verbs: allVerbs},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: allVerbs},
		}},
		RoleBinding: rbacv1.RoleBinding{
			ObjectMeta: meta,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: agentFluxRole},
			Subjects:   subjects,
		},
		ClusterRole: rbacv1.ClusterRole{ObjectMeta: clusterMeta, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, ResourceNames: FluxCRDs, Verbs: []string{"get"}},
			{APIGroups: []string{"source.toolkit.fluxcd.io"}, Resources: []string{"gitrepositories"}, Verbs: readVerbs},
			{APIGroups: []string{"notification.toolkit.fluxcd.io"}, Resources: []string{"receivers"}, Verbs: readVerbs},
		}},
		ClusterRoleBinding: rbacv1.ClusterRoleBinding{
			ObjectMeta: clusterMeta,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: agentFluxReader},
			Subjects:   subjects,
		},
	}
}

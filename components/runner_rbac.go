package components

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names of the runner's Kubernetes objects, in its namespace.
const (
	// RunnerServiceAccount is the runner manager's service account: it
	// creates the job pods.
	RunnerServiceAccount = "gitlab-runner"
	// RunnerJobServiceAccount is the job pods' service account: bound to
	// nothing, and its token is not even mounted, so a job has no rights in
	// the cluster of its own; jobs deploy through an agent's ci_access.
	RunnerJobServiceAccount = "gitlab-runner-job"
	// RunnerTokenSecret holds the runner's authentication token as the
	// chart's runners.secret reads it (keys runner-token and
	// runner-registration-token, gitlab-runner chart 0.82.0 templates).
	RunnerTokenSecret = "gitlab-runner-token"
	// RunnerCASecret holds GitLab's CA as "<GitLab host>.crt", the file the
	// runner looks for in its certs folder (certsSecretName).
	RunnerCASecret = "gitlab-runner-certs"
	// runnerRole is the runner manager's Role.
	runnerRole = "gitlab-runner"
)

// RunnerRBAC is the least-privilege access of the runner manager: one Role
// in its own namespace with the Kubernetes executor's documented minimal
// permissions (gitlab-runner docs/executors/kubernetes/_index.md,
// "Configure runner API permissions", v18.5.0): job pods, their exec,
// attach and logs, the Secrets and Services it makes for a job, its service
// account and events. The chart's own Role (rbac.create) would grant every
// core resource; this one is created instead, and tests/k8s proves it with
// SubjectAccessReviews. The job service account gets nothing.
func RunnerRBAC(namespace string) (rbacv1.Role, rbacv1.RoleBinding) {
	meta := metav1.ObjectMeta{Name: runnerRole, Namespace: namespace, Labels: managedLabels()}
	role := rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "delete", "get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach"}, Verbs: []string{"create", "delete", "get", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "delete", "get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"create", "get"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"list", "watch"}},
	}}
	binding := rbacv1.RoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: runnerRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: RunnerServiceAccount, Namespace: namespace}},
	}
	return role, binding
}

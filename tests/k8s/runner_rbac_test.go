package k8s

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// Namespaces of the runner tests, apart from each other's and the other
// tests' (a namespace being deleted cannot be made again at once).
const (
	runnerRBACNS   = "rbac-gitlab-runner"
	runnerOtherNS  = "rbac-runner-other"
	runnerBroadNS  = "rbac-runner-broad"
	ciAgentNS      = "rbac-ci-agent"
	ciTargetNS     = "rbac-ci-target"
	ciRunnerNS     = "rbac-ci-runner"
	ciDeployment   = "deployments.apps"
	ciReplicaSets  = "replicasets.apps"
	runnerRoleName = "gitlab-runner"
)

// sar is one row of a SubjectAccessReview table: may user do verb on
// resource in namespace (empty: cluster-wide)? resource is what
// harness.Access takes, "resource[.group][/subresource]".
type sar struct {
	user, verb, resource, namespace string
	want                            bool
}

func (r sar) String() string {
	ns := r.namespace
	if ns == "" {
		ns = "(cluster-wide)"
	}
	return fmt.Sprintf("%s may %s %s in %s", r.user, r.verb, r.resource, ns)
}

// sarMismatches asks the API server every row and returns those it answers
// otherwise than the row wants. A table without both an allowed and a
// denied row could not fail whatever the Role said, so it fails t at once.
func sarMismatches(t *testing.T, c kubernetes.Interface, rows []sar) []string {
	t.Helper()
	allowed := slices.ContainsFunc(rows, func(r sar) bool { return r.want })
	denied := slices.ContainsFunc(rows, func(r sar) bool { return !r.want })
	if !allowed || !denied {
		t.Fatalf("a SubjectAccessReview table needs at least one allowed and one denied row (allowed %v, denied %v)", allowed, denied)
	}
	var bad []string
	for _, r := range rows {
		if got := harness.Expect(t, c, r.user, r.verb, r.resource, r.namespace, r.want); got != r.want {
			bad = append(bad, fmt.Sprintf("%s: %v, want %v", r, got, r.want))
		}
	}
	return bad
}

// checkSARs fails t for every row of the table the API server answers
// otherwise.
func checkSARs(t *testing.T, c kubernetes.Interface, table string, rows []sar) {
	t.Helper()
	for _, m := range sarMismatches(t, c, rows) {
		t.Errorf("%s: %s", table, m)
	}
}

// createNamespaces creates the namespaces and removes them when the test ends.
func createNamespaces(t *testing.T, c kubernetes.Interface, names ...string) {
	t.Helper()
	for _, ns := range names {
		mustCreate(t, func() error {
			_, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			return err
		})
		t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	}
}

// applyRole creates a Role and its RoleBinding.
func applyRole(t *testing.T, c kubernetes.Interface, role rbacv1.Role, binding rbacv1.RoleBinding) {
	t.Helper()
	mustCreate(t, func() error {
		_, err := c.RbacV1().Roles(role.Namespace).Create(t.Context(), &role, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.RbacV1().RoleBindings(binding.Namespace).Create(t.Context(), &binding, metav1.CreateOptions{})
		return err
	})
}

// applyRunnerFooting creates, in ns, what DeclareRunnerClusterAccess
// creates for RBAC: the manager's and the jobs' service accounts (the
// manager's token mounted, the jobs' not) and RunnerRBAC's Role and
// RoleBinding.
func applyRunnerFooting(t *testing.T, c kubernetes.Interface, ns string) {
	t.Helper()
	for _, sa := range []struct {
		name      string
		automount bool
	}{{components.RunnerServiceAccount, true}, {components.RunnerJobServiceAccount, false}} {
		mustCreate(t, func() error {
			_, err := c.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{
				ObjectMeta:                   metav1.ObjectMeta{Name: sa.name},
				AutomountServiceAccountToken: &sa.automount,
			}, metav1.CreateOptions{})
			return err
		})
	}
	role, binding := components.RunnerRBAC(ns)
	applyRole(t, c, role, binding)
}

// runnerManagerTable is what the runner manager's service account in ns
// may do: the Kubernetes executor's documented permissions (gitlab-runner
// docs/executors/kubernetes/_index.md, "Configure runner API
// permissions") in its own namespace, and nothing anywhere else. other is
// a namespace that is not the runner's.
func runnerManagerTable(ns, other string) []sar {
	m := harness.ServiceAccountUser(ns, components.RunnerServiceAccount)
	rows := []sar{
		// Job pods: created, watched (the executor's informer lists and
		// watches them), read and deleted when the job ends.
		{m, "create", "pods", ns, true},
		{m, "delete", "pods", ns, true},
		{m, "get", "pods", ns, true},
		{m, "list", "pods", ns, true},
		{m, "watch", "pods", ns, true},
		// The job's script runs through attach (or exec, the legacy
		// strategy): a POST is authorised as create, a websocket upgrade
		// (a GET) as get.
		{m, "create", "pods/exec", ns, true},
		{m, "get", "pods/exec", ns, true},
		{m, "create", "pods/attach", ns, true},
		{m, "get", "pods/attach", ns, true},
		{m, "get", "pods/log", ns, true},
		// The per-job Secrets (registry credentials), read back by name.
		{m, "create", "secrets", ns, true},
		{m, "get", "secrets", ns, true},
		{m, "update", "secrets", ns, true},
		{m, "delete", "secrets", ns, true},
		// The jobs' service account is checked before a pod names it.
		{m, "get", "serviceaccounts", ns, true},
		// Services of a job's services: containers.
		{m, "create", "services", ns, true},
		{m, "get", "services", ns, true},
		// Pod warning events printed to the job log.
		{m, "list", "events", ns, true},
		{m, "watch", "events", ns, true},

		// In its own namespace, nothing beyond that list: no listing
		// other Secrets, no changing running pods, no port-forward, no
		// tokens minted for a service account, no impersonation, no
		// workloads and no RBAC.
		{m, "list", "secrets", ns, false},
		{m, "watch", "secrets", ns, false},
		{m, "update", "pods", ns, false},
		{m, "patch", "pods", ns, false},
		{m, "create", "pods/portforward", ns, false},
		{m, "create", "pods/eviction", ns, false},
		{m, "create", "serviceaccounts/token", ns, false},
		{m, "impersonate", "serviceaccounts", ns, false},
		{m, "delete", "services", ns, false},
		{m, "create", "configmaps", ns, false},
		{m, "create", ciDeployment, ns, false},
		{m, "create", "roles.rbac.authorization.k8s.io", ns, false},
		{m, "create", "rolebindings.rbac.authorization.k8s.io", ns, false},
		{m, "bind", "roles.rbac.authorization.k8s.io", ns, false},
		{m, "escalate", "roles.rbac.authorization.k8s.io", ns, false},
	}
	// None of the allowed verbs in another namespace, in kube-system or
	// cluster-wide.
	for _, r := range rows {
		if !r.want {
			continue
		}
		for _, where := range []string{other, "kube-system", ""} {
			rows = append(rows, sar{m, r.verb, r.resource, where, false})
		}
	}
	return append(rows,
		sar{m, "create", "namespaces", "", false},
		sar{m, "delete", "namespaces", "", false},
		sar{m, "list", "nodes", "", false},
		sar{m, "create", "clusterrolebindings.rbac.authorization.k8s.io", "", false},
		sar{m, "impersonate", "users", "", false},
		sar{m, "impersonate", "groups", "", false},
		sar{m, "impersonate", "serviceaccounts", "", false},
		sar{m, "impersonate", "uids.authentication.k8s.io", "", false},
		sar{m, "impersonate", "userextras.authentication.k8s.io", "", false},
	)
}

// TestRunnerRBAC applies the Role and RoleBinding that components.RunnerRBAC
// renders (the very objects DeclareRunnerClusterAccess creates) and both
// service accounts to a real API server, then proves least privilege with
// SubjectAccessReviews: the runner manager does what the Kubernetes
// executor needs in its own namespace and nothing else; the jobs' service
// account does nothing at all.
func TestRunnerRBAC(t *testing.T) {
	kube := harness.SharedKube(t)
	c := kube.Clientset
	createNamespaces(t, c, runnerRBACNS, runnerOtherNS)
	applyRunnerFooting(t, c, runnerRBACNS)

	// The Role is exactly one, under the name the binding refers to.
	roles, err := c.RbacV1().Roles(runnerRBACNS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(roles.Items) != 1 || roles.Items[0].Name != runnerRoleName {
		t.Errorf("the runner's namespace holds Roles %v, want exactly %s", roleNames(roles.Items), runnerRoleName)
	}

	checkSARs(t, c, "runner manager", runnerManagerTable(runnerRBACNS, runnerOtherNS))

	// The jobs' service account: nothing, not even reading the pods of its
	// own namespace. The manager's rows are the control: the same
	// requests are allowed to the one subject the binding names.
	job := harness.ServiceAccountUser(runnerRBACNS, components.RunnerJobServiceAccount)
	manager := harness.ServiceAccountUser(runnerRBACNS, components.RunnerServiceAccount)
	jobRows := []sar{
		{manager, "get", "pods", runnerRBACNS, true},
		{manager, "create", "pods/exec", runnerRBACNS, true},
		{manager, "get", "secrets", runnerRBACNS, true},
	}
	for _, r := range []struct{ verb, resource string }{
		{"get", "pods"}, {"list", "pods"}, {"watch", "pods"}, {"create", "pods"}, {"delete", "pods"},
		{"create", "pods/exec"}, {"create", "pods/attach"}, {"get", "pods/log"},
		{"get", "secrets"}, {"list", "secrets"}, {"create", "secrets"},
		{"get", "serviceaccounts"}, {"create", "serviceaccounts/token"}, {"impersonate", "serviceaccounts"},
		{"get", "services"}, {"create", "services"}, {"list", "events"}, {"get", "configmaps"},
		{"create", ciDeployment}, {"list", ciDeployment}, {"create", "roles.rbac.authorization.k8s.io"},
	} {
		for _, where := range []string{runnerRBACNS, runnerOtherNS, "kube-system", ""} {
			jobRows = append(jobRows, sar{job, r.verb, r.resource, where, false})
		}
	}
	checkSARs(t, c, "job service account", jobRows)

	// Beyond single questions: the API server's own list of what the job's
	// service account may do in its namespace holds nothing but what every
	// authenticated user gets (reviewing its own access), while the
	// manager's, asked the same way, holds its Role: the check can fail.
	if extra := rulesBeyondEveryone(t, kube, runnerRBACNS, components.RunnerJobServiceAccount); len(extra) != 0 {
		t.Errorf("the job service account may do more than any authenticated user in %s: %v", runnerRBACNS, extra)
	}
	if extra := rulesBeyondEveryone(t, kube, runnerRBACNS, components.RunnerServiceAccount); !slices.ContainsFunc(extra, func(r string) bool { return strings.Contains(r, "pods") }) {
		t.Errorf("the control failed: the manager's rules in %s show no pods (got %v), so the job's check proves nothing", runnerRBACNS, extra)
	}
}

// TestRunnerRBACBroadRoleIsCaught is the negative control of TestRunnerRBAC:
// RunnerRBAC's Role with every verb widened to "*" fails the manager's
// table, so the table would catch such a regression.
func TestRunnerRBACBroadRoleIsCaught(t *testing.T) {
	kube := harness.SharedKube(t)
	c := kube.Clientset
	createNamespaces(t, c, runnerBroadNS)
	role, binding := components.RunnerRBAC(runnerBroadNS)
	for i := range role.Rules {
		role.Rules[i].Verbs = []string{"*"}
	}
	applyRole(t, c, role, binding)

	bad := sarMismatches(t, c, runnerManagerTable(runnerBroadNS, runnerOtherNS))
	if len(bad) == 0 {
		t.Fatal(`a Role with verbs "*" passes the runner manager's table: the table proves nothing`)
	}
	t.Logf("a Role with verbs \"*\" fails %d rows, such as %s", len(bad), bad[0])
	// The rows that must catch it: listing every Secret of the namespace
	// and impersonating its service accounts.
	for _, want := range []string{"may list secrets in " + runnerBroadNS, "may impersonate serviceaccounts in " + runnerBroadNS} {
		if !slices.ContainsFunc(bad, func(b string) bool { return strings.Contains(b, want) }) {
			t.Errorf(`a Role with verbs "*" passes the row %q`, want)
		}
	}
}

// TestRunnerCIJobThroughAgentRBAC is the ci_access side: a CI job that uses the
// agent's kube context acts as the agent's service account (the agent
// configuration sets no access_as), so AgentRBAC must let it run the demo
// job (components.RenderCIFile) in the agent's target namespace, and
// nowhere else, not even in the runner's namespace, where the job pod
// itself runs.
func TestRunnerCIJobThroughAgentRBAC(t *testing.T) {
	kube := harness.SharedKube(t)
	c := kube.Clientset
	createNamespaces(t, c, ciAgentNS, ciTargetNS, ciRunnerNS)
	roles, bindings := components.AgentRBAC(ciAgentNS, []string{ciTargetNS})
	for i := range roles {
		applyRole(t, c, roles[i], bindings[i])
	}
	// The runner's own Role is there too: it must not leak to the agent.
	applyRunnerFooting(t, c, ciRunnerNS)

	agent := harness.ServiceAccountUser(ciAgentNS, components.AgentServiceAccount)
	// What the demo job calls in its namespace:
	//
	//   kubectl create deployment ci-demo --dry-run=client -o yaml
	//     calls nothing (client dry run).
	//   kubectl apply -n NS -f -  (client-side apply)
	//     GET  .../namespaces/NS/deployments/ci-demo       get
	//     then, when absent:  POST .../deployments          create
	//     else a strategic merge PATCH .../deployments/ci-demo  patch
	//     (a conflicting patch GETs again and retries).
	//   kubectl rollout status deployment/ci-demo
	//     GET  .../deployments/ci-demo (the builder's Latest)  get
	//     then watchtools.UntilWithSync on a ListWatch with
	//     fieldSelector=metadata.name=ci-demo:
	//     LIST .../deployments?fieldSelector=...                list
	//     GET  .../deployments?watch=true&fieldSelector=...     watch
	//   It judges the rollout from the Deployment's status alone.
	//
	// Both also read discovery and OpenAPI (non-resource URLs, which
	// every authenticated user may read; see ciDiscovery below).
	var rows []sar
	for _, verb := range []string{"get", "create", "patch", "list", "watch"} {
		rows = append(rows, sar{agent, verb, ciDeployment, ciTargetNS, true})
		// Not in the runner's namespace, the agent's own, kube-system
		// or cluster-wide.
		for _, where := range []string{ciRunnerNS, ciAgentNS, "kube-system", ""} {
			rows = append(rows, sar{agent, verb, ciDeployment, where, false})
		}
	}
	// Not called by the two commands above, but what a person runs
	// through the same context when the rollout hangs (kubectl get rs,pods,
	// kubectl logs, kubectl describe): read ReplicaSets, Pods, their logs
	// and events.
	for _, r := range []struct{ verb, resource string }{
		{"get", ciReplicaSets}, {"list", ciReplicaSets},
		{"get", "pods"}, {"list", "pods"}, {"get", "pods/log"}, {"list", "events"},
	} {
		rows = append(rows, sar{agent, r.verb, r.resource, ciTargetNS, true})
		for _, where := range []string{ciRunnerNS, "kube-system", ""} {
			rows = append(rows, sar{agent, r.verb, r.resource, where, false})
		}
	}
	rows = append(rows,
		// The job's pod, its Secrets and its exec in the runner's
		// namespace stay the runner's.
		sar{agent, "create", "pods/exec", ciRunnerNS, false},
		sar{agent, "get", "secrets", ciRunnerNS, false},
		sar{agent, "delete", "pods", ciRunnerNS, false},
		sar{agent, "get", "secrets", "kube-system", false},
		// No access_as, and nothing to impersonate with.
		sar{agent, "impersonate", "serviceaccounts", ciTargetNS, false},
		sar{agent, "impersonate", "users", "", false},
		sar{agent, "create", "rolebindings.rbac.authorization.k8s.io", ciTargetNS, false},
	)
	checkSARs(t, c, "CI job through the agent", rows)

	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/api", true},
		{"/apis", true},
		{"/apis/apps/v1", true},
		{"/openapi/v3", true},
		{"/openapi/v3/apis/apps/v1", true},
		{"/metrics", false},
		{"/logs", false},
	} {
		if got := ciDiscovery(t, c, agent, tc.path); got != tc.want {
			t.Errorf("CI job through the agent may get %s: %v, want %v", tc.path, got, tc.want)
		}
	}
}

// ciDiscovery asks with a SubjectAccessReview whether the service account
// user may GET a non-resource URL, as kubectl does for discovery and OpenAPI.
func ciDiscovery(t *testing.T, c kubernetes.Interface, user, path string) bool {
	t.Helper()
	ns, _, _ := strings.Cut(strings.TrimPrefix(user, "system:serviceaccount:"), ":")
	review, err := c.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:                  user,
			Groups:                []string{"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:" + ns},
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: "get"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("ask whether %s may get %s: %v", user, path, err)
	}
	return review.Status.Allowed
}

// everyone are the API groups of the only resource rules every
// authenticated user gets (system:basic-user: reviewing one's own access).
var everyone = []string{"authorization.k8s.io", "authentication.k8s.io"}

// rulesBeyondEveryone asks the API server, as the service account (the
// admin impersonates it, which adds its groups), for its resource rules in
// ns (a SelfSubjectRulesReview), and returns those beyond what every
// authenticated user gets.
func rulesBeyondEveryone(t *testing.T, kube *harness.Kube, ns, sa string) []string {
	t.Helper()
	cfg := rest.CopyConfig(kube.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: harness.ServiceAccountUser(ns, sa)}
	as, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := as.AuthorizationV1().SelfSubjectRulesReviews().Create(t.Context(), &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("review the rules of %s in %s: %v", sa, ns, err)
	}
	if review.Status.Incomplete {
		t.Fatalf("the rules review of %s in %s is incomplete: %s", sa, ns, review.Status.EvaluationError)
	}
	var extra []string
	for _, r := range review.Status.ResourceRules {
		if len(r.APIGroups) > 0 && !slices.ContainsFunc(r.APIGroups, func(g string) bool { return !slices.Contains(everyone, g) }) {
			continue
		}
		extra = append(extra, fmt.Sprintf("%v %v %v", r.APIGroups, r.Resources, r.Verbs))
	}
	return extra
}

func roleNames(roles []rbacv1.Role) []string {
	var names []string
	for _, r := range roles {
		names = append(names, r.Name)
	}
	return names
}

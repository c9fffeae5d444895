package engine

// TestTwoClustersAgentsStayApart proves that one program with a list of
// clusters keeps each cluster's agent footing on that cluster: under the
// real engine, each cluster's Kubernetes provider (built from that cluster's
// kubeconfig, named as the stack names it) creates the namespaces, token
// Secret and RBAC of DeclareAgentClusterAccess in its own API server and in
// no other; each agent may deploy in its own target namespaces only; a
// second up changes nothing; dropping a cluster from the list deletes
// exactly that cluster's objects, from that cluster, through that cluster's
// provider, and leaves the other cluster's objects untouched; destroy
// removes the rest.
//
// Why two API servers: with one, every provider would reach the same
// objects, and a resource handed the wrong provider (or the default one,
// or its parent's) would still land where the test looks. Only with two
// kube-apiservers, each with its own kubeconfig, does a cross-wired provider
// show up as an object in the wrong cluster, a missing one in the right
// cluster, or a wrong token. Both clusters use the same agent namespace, as
// the stack does (config.AgentNamespace for every cluster): the Secret, the
// ServiceAccount and the agent's own Role then have the same names in both
// clusters, so only the provider tells them apart, and the token inside each
// Secret shows which cluster's footing it is.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8smeta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8sclient "k8s.io/client-go/kubernetes"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// Namespaces and tokens of the two-cluster test, apart from the other
// tests' (the first cluster is the package's shared API server).
const (
	clustersAgentNS = "glk-engine-clusters-agent"
	clustersTargetA = "glk-engine-clusters-a"
	clustersTargetB = "glk-engine-clusters-b"
	clustersTokA    = "glagent-engine-clusters-kapsule-0123456789"
	clustersTokB    = "glagent-engine-clusters-prod-9876543210"
)

// clusterComponent is the type of the component each test cluster's
// resources are parented to, standing in for the stack's per-cluster parent.
const clusterComponent = "glk-test:index:Cluster"

// testCluster is one entry of the program's list of clusters.
type testCluster struct {
	// name is the cluster's name in the list: "kapsule" or another.
	name string
	// kube is the cluster's API server.
	kube *harness.Kube
	// target is the namespace the cluster's agent deploys to.
	target string
	// token is the cluster's agent token.
	token string
}

// k8sProviderName is the Kubernetes provider's name the stack gives a
// cluster: "kapsule-k8s" for "kapsule", "kapsule-<name>-k8s" otherwise.
func (c testCluster) k8sProviderName() string {
	if c.name == "kapsule" {
		return "kapsule-k8s"
	}
	return "kapsule-" + c.name + "-k8s"
}

// agentName is the name the stack passes DeclareAgentClusterAccess:
// "agent" for "kapsule", "agent-<name>" otherwise.
func (c testCluster) agentName() string {
	if c.name == "kapsule" {
		return "agent"
	}
	return "agent-" + c.name
}

// clustersProgram declares, for each cluster, a component as parent, a
// Kubernetes provider fed that cluster's kubeconfig as a secret (as
// Kapsule's output feeds it), and the agent's cluster side through that
// provider.
func clustersProgram(clusters ...testCluster) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		for _, c := range clusters {
			parent := &clusterParent{}
			if err := ctx.RegisterComponentResource(clusterComponent, c.name, parent); err != nil {
				return err
			}
			prov, err := kubernetes.NewProvider(ctx, c.k8sProviderName(), &kubernetes.ProviderArgs{
				Kubeconfig: pulumi.ToSecret(pulumi.String(string(c.kube.KubeConfig))).(pulumi.StringOutput),
			}, pulumi.Parent(parent))
			if err != nil {
				return err
			}
			if _, err := components.DeclareAgentClusterAccess(ctx, c.agentName(), &components.AgentClusterAccessArgs{
				AgentNamespace: clustersAgentNS,
				Namespaces:     []string{c.target},
				Token:          pulumi.ToSecret(pulumi.String(c.token)).(pulumi.StringOutput),
			}, pulumi.Provider(prov), pulumi.Parent(parent)); err != nil {
				return err
			}
			if err := ctx.RegisterResourceOutputs(parent, pulumi.Map{}); err != nil {
				return err
			}
		}
		return nil
	}
}

type clusterParent struct{ pulumi.ResourceState }

// resourcesPerCluster is what the program registers per cluster: the
// parent component, the provider, two namespaces, the token Secret, and a
// Role and a RoleBinding in each namespace.
const resourcesPerCluster = 1 + 1 + 2 + 1 + 2 + 2

// kubeObject names an object in a cluster.
type kubeObject struct{ kind, namespace, name string }

func (o kubeObject) String() string {
	if o.namespace == "" {
		return o.kind + " " + o.name
	}
	return o.kind + " " + o.namespace + "/" + o.name
}

// footing lists the objects DeclareAgentClusterAccess makes for a cluster
// whose agent deploys to target.
func footing(target string) []kubeObject {
	objs := []kubeObject{
		{"Namespace", "", clustersAgentNS},
		{"Namespace", "", target},
		{"Secret", clustersAgentNS, components.AgentTokenSecret},
	}
	roles, bindings := components.AgentRBAC(clustersAgentNS, []string{target})
	for i := range roles {
		objs = append(objs,
			kubeObject{"Role", roles[i].Namespace, roles[i].Name},
			kubeObject{"RoleBinding", bindings[i].Namespace, bindings[i].Name})
	}
	return objs
}

// getObject reads an object's metadata from a cluster.
func getObject(ctx context.Context, c k8sclient.Interface, o kubeObject) (k8smeta.Object, error) {
	get := k8smeta.GetOptions{}
	switch o.kind {
	case "Namespace":
		return c.CoreV1().Namespaces().Get(ctx, o.name, get)
	case "Secret":
		return c.CoreV1().Secrets(o.namespace).Get(ctx, o.name, get)
	case "Role":
		return c.RbacV1().Roles(o.namespace).Get(ctx, o.name, get)
	case "RoleBinding":
		return c.RbacV1().RoleBindings(o.namespace).Get(ctx, o.name, get)
	}
	return nil, fmt.Errorf("no getter for %s", o.kind)
}

// objectVersion is what changes when an object is recreated (UID) or
// written (resourceVersion).
type objectVersion struct {
	uid             types.UID
	resourceVersion string
}

// versions reads the UID and resourceVersion of each object; a missing
// object fails the test.
func versions(t *testing.T, c k8sclient.Interface, objs []kubeObject) map[kubeObject]objectVersion {
	t.Helper()
	out := map[kubeObject]objectVersion{}
	for _, o := range objs {
		obj, err := getObject(t.Context(), c, o)
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		out[o] = objectVersion{obj.GetUID(), obj.GetResourceVersion()}
	}
	return out
}

// absent fails the test unless the object is not in the cluster.
func absent(t *testing.T, c k8sclient.Interface, where string, o kubeObject) {
	t.Helper()
	if _, err := getObject(t.Context(), c, o); !apierrors.IsNotFound(err) {
		t.Errorf("%s in %s: %v, want not found", o, where, err)
	}
}

// stepLog records, in the order the engine reports them, the start and end
// of each step of an update.
type stepLog struct {
	mu     sync.Mutex
	events []stepEvent
}

type stepEvent struct {
	done bool // false: the step started; true: it finished
	op   apitype.OpType
	urn  string
}

// watch returns an option that feeds the update's engine events to l, and
// a function that waits until the engine has sent its last event.
func (l *stepLog) watch() (optup.Option, func()) {
	ch := make(chan events.EngineEvent)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			l.mu.Lock()
			switch {
			case e.ResourcePreEvent != nil:
				m := e.ResourcePreEvent.Metadata
				l.events = append(l.events, stepEvent{false, m.Op, m.URN})
			case e.ResOutputsEvent != nil:
				m := e.ResOutputsEvent.Metadata
				l.events = append(l.events, stepEvent{true, m.Op, m.URN})
			}
			l.mu.Unlock()
		}
	}()
	return optup.EventStreams(ch), func() {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}
}

// order returns, for the steps of op, the index at which each resource's
// step started and finished, by URN.
func (l *stepLog) order(op apitype.OpType) (started, finished map[string]int, urns []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	started, finished = map[string]int{}, map[string]int{}
	for i, e := range l.events {
		if e.op != op {
			continue
		}
		if e.done {
			finished[e.urn] = i
		} else {
			started[e.urn] = i
			urns = append(urns, e.urn)
		}
	}
	return started, finished, urns
}

// stackResources reads the stack's state.
func stackResources(t *testing.T, s auto.Stack) []apitype.ResourceV3 {
	t.Helper()
	exported, err := s.Export(t.Context())
	if err != nil {
		t.Fatalf("export the stack's state: %v", err)
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(exported.Deployment, &d); err != nil {
		t.Fatalf("read the stack's state: %v", err)
	}
	return d.Resources
}

// checkProviders fails the test unless, in the stack's state, each of the
// given clusters has its own provider under its component and every other
// resource under that component is managed by it. It returns how many
// resources, the component included, the state holds under each cluster's
// component, for every component in the state, listed or not.
func checkProviders(t *testing.T, resources []apitype.ResourceV3, clusters ...testCluster) map[string]int {
	t.Helper()
	listed := map[string]testCluster{}
	for _, c := range clusters {
		listed[c.name] = c
	}
	cluster := map[resource.URN]string{} // component URN: cluster name
	for _, r := range resources {
		if string(r.Type) == clusterComponent {
			cluster[r.URN] = r.URN.Name()
		}
	}
	count := map[string]int{}
	providers := map[string]resource.URN{}
	for _, r := range resources {
		if name, ok := cluster[r.URN]; ok {
			count[name]++
		}
		name, ok := cluster[r.Parent]
		if !ok {
			continue
		}
		count[name]++
		if c, ok := listed[name]; ok && r.Type == "pulumi:providers:kubernetes" {
			if r.URN.Name() != c.k8sProviderName() {
				t.Errorf("cluster %s has provider %s, want %s", name, r.URN.Name(), c.k8sProviderName())
			}
			providers[name] = r.URN
		}
	}
	for _, c := range clusters {
		if providers[c.name] == "" {
			t.Errorf("the state holds no provider for cluster %s", c.name)
		}
	}
	for _, r := range resources {
		name, ok := cluster[r.Parent]
		if _, isListed := listed[name]; !ok || !isListed || r.Type == "pulumi:providers:kubernetes" {
			continue
		}
		if !strings.HasPrefix(r.Provider, string(providers[name])+"::") {
			t.Errorf("%s of cluster %s is managed by %q, want its cluster's provider %s", r.URN, name, r.Provider, providers[name])
		}
	}
	return count
}

// secretsHidden fails the test if the stack's state file, as the file://
// backend wrote it, holds a token or a kubeconfig's client key in plain
// text (or base64, as a Secret's data carries it). Stack.Export cannot
// tell: the Automation API exports with --show-secrets.
func secretsHidden(t *testing.T, eng *harness.Engine, s auto.Stack, clusters ...testCluster) {
	t.Helper()
	_, raw := stateFile(t, eng, s)
	state := string(raw)
	for _, c := range clusters {
		if strings.Contains(state, c.token) || strings.Contains(state, base64.StdEncoding.EncodeToString([]byte(c.token))) {
			t.Errorf("the state file holds cluster %s's agent token in plain text", c.name)
		}
		keys := 0
		for _, line := range strings.Split(string(c.kube.KubeConfig), "\n") {
			key, ok := strings.CutPrefix(strings.TrimSpace(line), "client-key-data: ")
			if !ok {
				continue
			}
			keys++
			if strings.Contains(state, key) {
				t.Errorf("the state file holds the client key of cluster %s's kubeconfig in plain text", c.name)
			}
		}
		if keys == 0 {
			t.Errorf("cluster %s's kubeconfig has no client-key-data: the check that the state hides it proves nothing", c.name)
		}
	}
}

// TestTwoClustersAgentsStayApart runs the agents' cluster side of two
// clusters, each with its own API server; see the top of the file.
func TestTwoClustersAgentsStayApart(t *testing.T) {
	kubeA := harness.SharedKube(t)
	eng := harness.NewEngine(t)
	eng.InstallKubernetesPlugin(t)

	// The second cluster needs its controller-manager: the provider deletes
	// a Namespace and waits until it is gone, which takes the namespace
	// controller, and deletes in the foreground, which takes the garbage
	// collector. Without them the last up and destroy would never finish.
	start := time.Now()
	kubeB, err := harness.StartKube(harness.KubeOptions{})
	t.Cleanup(func() {
		if err := kubeB.Stop(); err != nil {
			t.Errorf("stop the second cluster: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("the second cluster did not start: %v", err)
	}
	t.Logf("second cluster started in %s", time.Since(start).Round(time.Millisecond))

	a := testCluster{name: "kapsule", kube: kubeA, target: clustersTargetA, token: clustersTokA}
	b := testCluster{name: "prod", kube: kubeB, target: clustersTargetB, token: clustersTokB}
	ca, cb := kubeA.Clientset, kubeB.Clientset
	ctx := t.Context()

	s := eng.Stack(t, harness.StackOptions{Stack: "clusters", Program: clustersProgram(a, b)})
	destroyed := false
	// Registered after the second cluster's Stop, so it runs before it:
	// destroy needs both API servers. Should destroy fail, the shared
	// cluster is cleared by hand so that the other tests never see these
	// namespaces.
	t.Cleanup(func() {
		if destroyed {
			return
		}
		_, derr := s.Destroy(context.Background())
		if derr == nil {
			t.Log("the stack was destroyed in cleanup")
			return
		}
		t.Logf("destroy in cleanup failed (%v); deleting the test's namespaces from the shared cluster", derr)
		for _, ns := range []string{clustersAgentNS, clustersTargetA, clustersTargetB} {
			err := ca.CoreV1().Namespaces().Delete(context.Background(), ns, k8smeta.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete namespace %s from the shared cluster: %v", ns, err)
			}
		}
	})

	// 1. Each API server holds its own cluster's footing and none of the
	// other's; each Secret holds its own cluster's token.
	up := harness.Up(t, s)
	if changed := harness.Changed(up.Summary); changed["create"] != 1+2*resourcesPerCluster || len(changed) != 1 {
		t.Errorf("the first up did %v, want %d creates (the stack and %d per cluster)", changed, 1+2*resourcesPerCluster, resourcesPerCluster)
	}
	footA, footB := footing(clustersTargetA), footing(clustersTargetB)
	versions(t, ca, footA)
	versions(t, cb, footB)
	for _, o := range footB {
		if o.namespace == clustersTargetB || o.name == clustersTargetB {
			absent(t, ca, "cluster kapsule", o)
		}
	}
	for _, o := range footA {
		if o.namespace == clustersTargetA || o.name == clustersTargetA {
			absent(t, cb, "cluster prod", o)
		}
	}
	for _, tc := range []struct {
		cluster string
		c       k8sclient.Interface
		want    string
	}{{"kapsule", ca, clustersTokA}, {"prod", cb, clustersTokB}} {
		secret, err := tc.c.CoreV1().Secrets(clustersAgentNS).Get(ctx, components.AgentTokenSecret, k8smeta.GetOptions{})
		if err != nil {
			t.Fatalf("the token Secret of cluster %s: %v", tc.cluster, err)
		}
		if got := string(secret.Data["token"]); got != tc.want {
			t.Errorf("the token Secret of cluster %s holds %q, want %q: the footing went to the wrong cluster", tc.cluster, got, tc.want)
		}
	}
	if count := checkProviders(t, stackResources(t, s), a, b); count["kapsule"] != resourcesPerCluster || count["prod"] != resourcesPerCluster {
		t.Errorf("the state holds %v resources per cluster, want %d each", count, resourcesPerCluster)
	}
	secretsHidden(t, eng, s, a, b)

	// 2. Each agent may deploy in its own target namespace of its own
	// cluster, and nowhere else.
	agent := harness.ServiceAccountUser(clustersAgentNS, components.AgentServiceAccount)
	for _, tc := range []struct {
		cluster            string
		c                  k8sclient.Interface
		verb, resource, ns string
		want               bool
	}{
		{"kapsule", ca, "create", "deployments.apps", clustersTargetA, true},
		{"kapsule", ca, "create", "services", clustersTargetA, true},
		{"kapsule", ca, "create", "deployments.apps", clustersTargetB, false},
		{"kapsule", ca, "create", "services", clustersTargetB, false},
		{"kapsule", ca, "create", "deployments.apps", "default", false},
		{"kapsule", ca, "create", "deployments.apps", "", false},
		{"kapsule", ca, "get", "secrets", "kube-system", false},
		{"kapsule", ca, "create", "clusterrolebindings.rbac.authorization.k8s.io", "", false},
		{"kapsule", ca, "create", "rolebindings.rbac.authorization.k8s.io", clustersTargetA, false},
		{"prod", cb, "create", "deployments.apps", clustersTargetB, true},
		{"prod", cb, "create", "services", clustersTargetB, true},
		{"prod", cb, "create", "deployments.apps", clustersTargetA, false},
		{"prod", cb, "create", "services", clustersTargetA, false},
		{"prod", cb, "create", "deployments.apps", "default", false},
		{"prod", cb, "create", "deployments.apps", "", false},
		{"prod", cb, "get", "secrets", "kube-system", false},
		{"prod", cb, "create", "clusterrolebindings.rbac.authorization.k8s.io", "", false},
		{"prod", cb, "create", "rolebindings.rbac.authorization.k8s.io", clustersTargetB, false},
	} {
		if got := harness.Expect(t, tc.c, agent, tc.verb, tc.resource, tc.ns, tc.want); got != tc.want {
			t.Errorf("in cluster %s the agent may %s %s in %q: %v, want %v", tc.cluster, tc.verb, tc.resource, tc.ns, got, tc.want)
		}
	}

	// 3. A second up with the same program changes nothing.
	if changed := harness.Changed(harness.Up(t, s).Summary); len(changed) != 0 {
		t.Errorf("a second up changed %v, want nothing", changed)
	}

	// 4. Without the second cluster, an up deletes exactly its objects, from
	// its API server, and leaves the first cluster's as they were.
	before := versions(t, ca, footA)
	var steps stepLog
	watch, wait := steps.watch()
	s2 := eng.Stack(t, harness.StackOptions{Stack: "clusters", Program: clustersProgram(a)})
	up = harness.Up(t, s2, watch)
	wait()
	if changed := harness.Changed(up.Summary); changed["delete"] != resourcesPerCluster || len(changed) != 1 {
		t.Errorf("dropping cluster prod did %v, want exactly %d deletes", changed, resourcesPerCluster)
	}
	after := versions(t, ca, footA)
	for _, o := range footA {
		if before[o] != after[o] {
			t.Errorf("dropping cluster prod touched %s in cluster kapsule: %+v, then %+v", o, before[o], after[o])
		}
	}
	for _, ns := range []string{clustersAgentNS, clustersTargetB} {
		harness.NamespaceGone(t, cb, ns)
	}
	for _, o := range footB {
		absent(t, cb, "cluster prod after it was dropped", o)
	}
	if count := checkProviders(t, stackResources(t, s2), a); count["kapsule"] != resourcesPerCluster || count["prod"] != 0 {
		t.Errorf("after dropping cluster prod the state holds %v resources per cluster, want %d for kapsule and none for prod", count, resourcesPerCluster)
	}
	checkDeleteOrder(t, &steps, b)

	// 5. Destroy removes what is left.
	destroy := harness.Destroy(t, s2)
	destroyed = true
	if n := harness.Changed(destroy.Summary)["delete"]; n != 1+resourcesPerCluster {
		t.Errorf("destroy deleted %d resources, want %d (the stack and cluster kapsule's)", n, 1+resourcesPerCluster)
	}
	for _, ns := range []string{clustersAgentNS, clustersTargetA} {
		harness.NamespaceGone(t, ca, ns)
	}
	for _, o := range footA {
		absent(t, ca, "cluster kapsule after destroy", o)
	}
}

// checkDeleteOrder logs the order in which the engine deleted a dropped
// cluster's resources and fails the test unless its provider was deleted
// only after every resource it manages, and each namespace only after what
// the program put in it.
func checkDeleteOrder(t *testing.T, steps *stepLog, c testCluster) {
	t.Helper()
	started, finished, urns := steps.order(apitype.OpDelete)
	byName := map[string]string{}
	var lines []string
	for _, urn := range urns {
		byName[resource.URN(urn).Name()] = urn
		lines = append(lines, fmt.Sprintf("  %3d..%3d %s", started[urn], finished[urn], urn))
	}
	t.Logf("deletes of cluster %s (engine event index at start..end):\n%s", c.name, strings.Join(lines, "\n"))
	if len(urns) != resourcesPerCluster {
		t.Errorf("the engine reported %d deletes, want %d", len(urns), resourcesPerCluster)
	}
	provider, ok := byName[c.k8sProviderName()]
	if !ok {
		t.Fatalf("no delete of provider %s among the engine's steps", c.k8sProviderName())
	}

	// What each namespace holds, by resource name, as
	// DeclareAgentClusterAccess names them.
	n := c.agentName()
	agentNS, targetNS := n+"-namespace", n+"-target-"+c.target
	holds := map[string][]string{agentNS: {n + "-token-secret"}}
	roles, _ := components.AgentRBAC(clustersAgentNS, []string{c.target})
	for _, r := range roles {
		child := fmt.Sprintf("%s-%s-%s", n, r.Namespace, r.Name)
		ns := agentNS
		if r.Namespace == c.target {
			ns = targetNS
		}
		holds[ns] = append(holds[ns], child, child+"-binding")
	}
	managed := 0
	for ns, children := range holds {
		managed += 1 + len(children)
		nsURN, ok := byName[ns]
		if !ok {
			t.Errorf("no delete of namespace resource %s", ns)
			continue
		}
		for _, child := range children {
			urn, ok := byName[child]
			if !ok {
				t.Errorf("no delete of %s", child)
				continue
			}
			if finished[urn] > started[nsURN] {
				t.Errorf("%s was deleted (event %d) after the delete of its namespace %s started (event %d)", child, finished[urn], ns, started[nsURN])
			}
		}
	}
	for _, urn := range urns {
		if urn == provider || resource.URN(urn).Type() == clusterComponent {
			continue
		}
		if finished[urn] > started[provider] {
			t.Errorf("the delete of provider %s started (event %d) before %s was deleted (event %d)", c.k8sProviderName(), started[provider], urn, finished[urn])
		}
	}
	if managed != resourcesPerCluster-2 {
		t.Errorf("the test knows %d objects of the footing, want %d", managed, resourcesPerCluster-2)
	}
}

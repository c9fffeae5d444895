package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
)

// KubeAssetsEnv names the variable that holds the folder with kube-apiserver,
// etcd and kube-controller-manager; tools/build prints it.
const KubeAssetsEnv = "KUBEBUILDER_ASSETS"

// howToBuildKube tells a person where the Kubernetes binaries come from.
const howToBuildKube = `run eval "$(tools/build kube)"`

// FakeNodeName is the Node that MarkPodsReady binds Pods to: it exists so
// that the endpoints controllers accept the Pods, and nothing watches it.
const FakeNodeName = "envtest-node"

// controllers are the kube-controller-manager controllers a test cluster
// needs: the garbage collector (the Pulumi Kubernetes provider deletes in
// the foreground), namespace deletion, Deployments down to Pods, Service
// endpoints, default ServiceAccounts and their tokens, and the aggregated
// admin/edit/view ClusterRoles. The node lifecycle and Pod garbage
// collectors are left out on purpose: with no kubelet they would evict or
// delete the Pods that MarkPodsReady keeps running.
var controllers = []string{
	"garbage-collector-controller",
	"namespace-controller",
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"daemonset-controller",
	"job-controller",
	"endpoints-controller",
	"endpointslice-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"clusterrole-aggregation-controller",
}

// KubeOptions tunes StartKube. The zero value is what most tests want.
type KubeOptions struct {
	// AssetsDir holds kube-apiserver, etcd and kube-controller-manager.
	// Empty means $KUBEBUILDER_ASSETS.
	AssetsDir string
	// NoControllerManager starts only kube-apiserver and etcd: then
	// nothing makes ReplicaSets or Pods, collects garbage or finishes
	// deleting a Namespace.
	NoControllerManager bool
	// StartTimeout bounds the start of each process; zero means 90 s,
	// generous because CI shares two cores with builds.
	StartTimeout time.Duration
}

// Kube is a real Kubernetes control plane without nodes: kube-apiserver and
// etcd started by envtest, and kube-controller-manager as a separate process
// pointed at them. No kubelet runs; MarkPodsReady plays its part for Pods.
type Kube struct {
	// Env is the envtest environment that runs kube-apiserver and etcd.
	Env *envtest.Environment
	// Config is an admin (system:masters) REST config.
	Config *rest.Config
	// KubeConfig is an admin kubeconfig file's content, the shape a
	// Kapsule cluster's kubeconfig output has: feed it to a Pulumi
	// Kubernetes provider.
	KubeConfig []byte
	// Clientset is a client-go clientset with admin rights.
	Clientset kubernetes.Interface
	// Client is a controller-runtime client with admin rights.
	Client client.Client
	// Dir holds the controller-manager's files and logs; removed by Stop.
	Dir string

	kcm     *exec.Cmd
	kcmDone chan struct{}
	kcmLog  string
	podIP   atomic.Uint32
}

// StartKube starts kube-apiserver, etcd and (unless told otherwise)
// kube-controller-manager, and waits until the API answers. The caller
// must call Stop, also when StartKube fails half-way (Stop on a nil or
// partly started Kube is safe).
func StartKube(opts KubeOptions) (*Kube, error) {
	assets := opts.AssetsDir
	if assets == "" {
		assets = os.Getenv(KubeAssetsEnv)
	}
	if assets == "" {
		return nil, &MissingError{What: "$" + KubeAssetsEnv, How: howToBuildKube}
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kube-controller-manager"} {
		if bin == "kube-controller-manager" && opts.NoControllerManager {
			continue
		}
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, &MissingError{What: filepath.Join(assets, bin), How: howToBuildKube}
		}
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}

	dir, err := os.MkdirTemp("", "glk-kube-")
	if err != nil {
		return nil, fmt.Errorf("create a folder for the test cluster: %w", err)
	}
	k := &Kube{Dir: dir}
	k.Env = &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: timeout,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	api := k.Env.ControlPlane.GetAPIServer()
	// In a loopback-only network namespace the apiserver finds no
	// address of its own to advertise.
	api.Configure().Set("advertise-address", "127.0.0.1")
	if _, err := k.Env.Start(); err != nil {
		return k, fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err)
	}

	admin, err := k.AddUser("admin", "system:masters")
	if err != nil {
		return k, err
	}
	k.KubeConfig = admin.KubeConfig
	k.Config = admin.Config
	if k.Clientset, err = kubernetes.NewForConfig(k.Config); err != nil {
		return k, fmt.Errorf("make an admin clientset: %w", err)
	}
	if k.Client, err = client.New(k.Config, client.Options{}); err != nil {
		return k, fmt.Errorf("make an admin controller-runtime client: %w", err)
	}
	if !opts.NoControllerManager {
		if err := k.startControllerManager(filepath.Join(assets, "kube-controller-manager"), timeout); err != nil {
			return k, err
		}
	}
	return k, nil
}

// KubeUser is a user the test cluster authenticates by client certificate.
type KubeUser struct {
	// Name is the user name the API server sees.
	Name string
	// Config is a REST config that authenticates as the user.
	Config *rest.Config
	// KubeConfig is a kubeconfig file's content for the user.
	KubeConfig []byte
}

// AddUser makes a user the API server authenticates with the given groups
// (authorisation is RBAC: bind roles to Name or to a group).
func (k *Kube) AddUser(name string, groups ...string) (*KubeUser, error) {
	u, err := k.Env.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return nil, fmt.Errorf("provision user %s in the test cluster: %w", name, err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("write a kubeconfig for user %s: %w", name, err)
	}
	return &KubeUser{Name: name, Config: u.Config(), KubeConfig: kc}, nil
}

// startControllerManager runs kube-controller-manager against the API
// server with a system:masters identity of its own, and waits until it has
// created the default ServiceAccount, the sign that its controllers run.
func (k *Kube) startControllerManager(bin string, timeout time.Duration) error {
	u, err := k.AddUser("system:kube-controller-manager", "system:masters")
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(k.Dir, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(kubeconfig, u.KubeConfig, 0o600); err != nil {
		return fmt.Errorf("write the controller-manager's kubeconfig: %w", err)
	}
	api := k.Env.ControlPlane.GetAPIServer()
	caFile := filepath.Join(k.Dir, "apiserver-ca.crt")
	if err := os.WriteFile(caFile, api.SecureServing.CA, 0o600); err != nil {
		return fmt.Errorf("write the API server's CA for the controller-manager: %w", err)
	}
	k.kcmLog = filepath.Join(k.Dir, "kube-controller-manager.log")
	logFile, err := os.Create(k.kcmLog)
	if err != nil {
		return fmt.Errorf("create the controller-manager's log: %w", err)
	}
	cmd := exec.Command(bin,
		"--kubeconfig="+kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers="+strings.Join(controllers, ","),
		// envtest signs ServiceAccount tokens with this key.
		"--service-account-private-key-file="+filepath.Join(api.CertDir, "sa-signer.key"),
		"--root-ca-file="+caFile,
		"--concurrent-gc-syncs=5",
		"--v=1",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should the test binary die without cleaning up, take the
	// controller-manager with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	k.kcm = cmd
	k.kcmDone = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(k.kcmDone)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		_, err := k.Clientset.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		select {
		case <-k.kcmDone:
			return fmt.Errorf("kube-controller-manager exited at start; its log %s ends with:\n%s", k.kcmLog, tail(k.kcmLog, 20))
		case <-ctx.Done():
			return fmt.Errorf("kube-controller-manager made no default ServiceAccount within %s; its log %s ends with:\n%s", timeout, k.kcmLog, tail(k.kcmLog, 20))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ControllerManagerLog returns the end of kube-controller-manager's log,
// for a failing test to show.
func (k *Kube) ControllerManagerLog(lines int) string {
	if k == nil || k.kcmLog == "" {
		return ""
	}
	return tail(k.kcmLog, lines)
}

// Stop ends kube-controller-manager, kube-apiserver and etcd, and removes
// their files. It is safe on a nil or partly started Kube.
func (k *Kube) Stop() error {
	if k == nil {
		return nil
	}
	var errs []error
	if k.kcm != nil && k.kcm.Process != nil {
		_ = k.kcm.Process.Signal(syscall.SIGTERM)
		select {
		case <-k.kcmDone:
		case <-time.After(10 * time.Second):
			_ = k.kcm.Process.Kill()
			<-k.kcmDone
		}
	}
	if k.Env != nil {
		if err := k.Env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop kube-apiserver and etcd: %w", err))
		}
	}
	if k.Dir != "" {
		if err := os.RemoveAll(k.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MarkPodsReady plays the kubelet (and the scheduler) until ctx ends: it
// binds every unscheduled Pod to FakeNodeName, reports every bound Pod
// Running and Ready with a made-up Pod IP (so Services get endpoints), and
// removes Pods being deleted at once, as a kubelet would once their
// containers stopped. Containers never run; init containers are reported
// completed, so Jobs never finish. A Pod it cannot handle does not stop it:
// it goes on with the others and returns the first such error when ctx
// ends (nil if there was none).
func (k *Kube) MarkPodsReady(ctx context.Context) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil && ctx.Err() == nil {
			first = err
		}
	}
	keep(k.ensureFakeNode(ctx))
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for {
		keep(k.markPodsOnce(ctx))
		select {
		case <-ctx.Done():
			return first
		case <-tick.C:
		}
	}
}

// PodsReady runs MarkPodsReady in the background for the rest of the test.
func (k *Kube) PodsReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.MarkPodsReady(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("marking Pods ready: %v", err)
		}
	})
}

func (k *Kube) ensureFakeNode(ctx context.Context) error {
	nodes := k.Clientset.CoreV1().Nodes()
	node, err := nodes.Get(ctx, FakeNodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:   FakeNodeName,
			Labels: map[string]string{corev1.LabelHostname: FakeNodeName, corev1.LabelOSStable: "linux"},
		}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			node, err = nodes.Get(ctx, FakeNodeName, metav1.GetOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("create the fake node %s: %w", FakeNodeName, err)
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	now := metav1.Now()
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "no kubelet: the test harness marks Pods ready", LastHeartbeatTime: now, LastTransitionTime: now,
	}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("mark the fake node %s ready: %w", FakeNodeName, err)
	}
	return nil
}

func (k *Kube) markPodsOnce(ctx context.Context) error {
	pods, err := k.Clientset.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list Pods: %w", err)
	}
	var errs []error
	for i := range pods.Items {
		if err := k.markPod(ctx, &pods.Items[i]); err != nil && !passing(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// passing reports errors that the next round fixes by itself: another
// writer won a race, or the Pod went away meanwhile.
func passing(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err)
}

func (k *Kube) markPod(ctx context.Context, pod *corev1.Pod) error {
	pods := k.Clientset.CoreV1().Pods(pod.Namespace)
	switch {
	case pod.DeletionTimestamp != nil:
		if pod.Spec.NodeName == "" {
			return nil // the API server removes unscheduled Pods itself
		}
		zero := int64(0)
		if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}}); err != nil {
			return fmt.Errorf("remove Pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	case pod.Spec.NodeName == "":
		err := pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: FakeNodeName},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("bind Pod %s/%s to %s: %w", pod.Namespace, pod.Name, FakeNodeName, err)
		}
	case !podReady(pod):
		setRunning(pod, k.nextPodIP())
		if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("mark Pod %s/%s ready: %w", pod.Namespace, pod.Name, err)
		}
	}
	return nil
}

func podReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nextPodIP hands out 10.244.0.1, 10.244.0.2, ... as a CNI would.
func (k *Kube) nextPodIP() string {
	n := k.podIP.Add(1)
	return fmt.Sprintf("10.244.%d.%d", (n/250)%250, n%250+1)
}

func setRunning(pod *corev1.Pod, ip string) {
	now := metav1.Now()
	started := true
	st := &pod.Status
	st.Phase = corev1.PodRunning
	st.HostIP = "127.0.0.1"
	st.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	if st.PodIP == "" {
		st.PodIP = ip
		st.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	st.Conditions = nil
	for _, c := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.PodReadyToStartContainers, corev1.ContainersReady, corev1.PodReady} {
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	st.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: &started,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}},
		})
	}
	st.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
}

// MissingError says that a tool the harness needs is not there, and how to
// get it; Shared turns it into a skip or (strict) a failure.
type MissingError struct {
	// What is missing: a variable or a file.
	What string
	// How gets it.
	How string
}

func (e *MissingError) Error() string { return e.What + " is missing: " + e.How }

var shared struct {
	sync.Mutex
	kube     *Kube
	err      error
	started  bool
	cleanups []func() error
}

// SharedKube returns the package's test cluster, starting it on first use;
// Main stops it when the package's tests end. Where the binaries are
// missing it skips the test, or fails it under GLK_STRICT/CI.
func SharedKube(t testing.TB) *Kube {
	t.Helper()
	shared.Lock()
	if !shared.started {
		shared.started = true
		start := time.Now()
		shared.kube, shared.err = StartKube(KubeOptions{})
		kube := shared.kube
		shared.cleanups = append(shared.cleanups, kube.Stop)
		if shared.err == nil {
			t.Logf("test cluster started in %s", time.Since(start).Round(time.Millisecond))
		}
	}
	kube, err := shared.kube, shared.err
	shared.Unlock()
	var missing *MissingError
	if errors.As(err, &missing) {
		testenv.Missing(t, missing.What, missing.How)
	}
	if err != nil {
		t.Fatalf("the test cluster did not start: %v", err)
	}
	return kube
}

// AtExit registers fn to run when Main ends, after all the package's tests.
func AtExit(fn func() error) {
	shared.Lock()
	defer shared.Unlock()
	shared.cleanups = append(shared.cleanups, fn)
}

// Main runs the package's tests and then stops what they shared (the test
// cluster of SharedKube, whatever AtExit registered). Use it as
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	cleanups := shared.cleanups
	shared.cleanups = nil
	shared.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		if err := cleanups[i](); err != nil {
			fmt.Fprintf(os.Stderr, "harness: cleanup: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// tail returns the last lines of a file, for error messages.
func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	ls := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return string(bytes.Join(ls, []byte("\n")))
}

// ServiceAccountUser returns the user name a ServiceAccount's tokens
// authenticate as, for Can.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Access asks the API server, with a SubjectAccessReview, whether user may
// do verb on resource in namespace (empty namespace: cluster-wide).
// resource is "resource[.group][/subresource]", such as "pods",
// "deployments.apps" or "pods/log". A ServiceAccount's user name (see
// ServiceAccountUser) gets the groups its tokens carry.
func Access(ctx context.Context, c kubernetes.Interface, user, verb, resource, namespace string) (bool, error) {
	res, sub, _ := strings.Cut(resource, "/")
	res, group, _ := strings.Cut(res, ".")
	groups := []string{"system:authenticated"}
	if rest, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		ns, _, _ := strings.Cut(rest, ":")
		groups = append(groups, "system:serviceaccounts", "system:serviceaccounts:"+ns)
	}
	review, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: group, Resource: res, Subresource: sub,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("ask whether %s may %s %s in %q: %w", user, verb, resource, namespace, err)
	}
	return review.Status.Allowed, nil
}

// Can is Access for tests: it fails the test when the API server cannot
// answer.
func Can(t testing.TB, c kubernetes.Interface, user, verb, resource, namespace string) bool {
	t.Helper()
	ok, err := Access(t.Context(), c, user, verb, resource, namespace)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// Expect is Can for a row of an access table that wants the answer want.
// The RBAC authorizer reads Roles and bindings through informers (the
// apiserver's rbac authorizer works on listers), so a grant shows in
// SubjectAccessReviews a moment after its objects were created, later on a
// loaded machine: a wanted grant is asked again for up to 15 s. A denial is
// asked once: the lag can only withhold a grant, never make one.
func Expect(t testing.TB, c kubernetes.Interface, user, verb, resource, namespace string, want bool) bool {
	t.Helper()
	got := Can(t, c, user, verb, resource, namespace)
	for deadline := time.Now().Add(15 * time.Second); want && !got && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		got = Can(t, c, user, verb, resource, namespace)
	}
	return got
}

// NamespaceGone waits up to a minute for the namespace to be deleted (the
// namespace controller empties it first) and fails t if it is still there.
func NamespaceGone(t testing.TB, c kubernetes.Interface, ns string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		t.Errorf("namespace %s still there after destroy: %v", ns, err)
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

// probeImage runs the Pod's probes: pinned, for its nc.
const probeImage = "busybox:1.37.0"

// check is one verify check's outcome.
type check struct {
	name   string
	status string // "PASS", "FAIL" or "N/A"
	reason string
}

// verifier runs the checks; its fields are seams for tests.
type verifier struct {
	// kube makes a clientset from a kubeconfig.
	kube func(kubeconfig []byte) (kubernetes.Interface, error)
	// run runs a command and returns its stdout.
	run func(ctx context.Context, argv []string) (string, error)
	// namespace is where the probe Pod runs.
	namespace string
	// timeout bounds each check.
	timeout time.Duration
	// poll is how often the Pod's state is read.
	poll time.Duration
	// clusters are the clusters to check (--cluster); none: every cluster.
	clusters []string
}

func newVerifier() *verifier {
	return &verifier{
		kube: func(kc []byte) (kubernetes.Interface, error) {
			cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
			if err != nil {
				return nil, fmt.Errorf("the kubeconfig output does not parse: %w", err)
			}
			return kubernetes.NewForConfig(cfg)
		},
		run: func(ctx context.Context, argv []string) (string, error) {
			bin, err := exec.LookPath(argv[0])
			if err != nil {
				return "", fmt.Errorf("%s is not on PATH: install the OpenSSH client", argv[0])
			}
			out, err := exec.CommandContext(ctx, bin, argv[1:]...).Output()
			if ee, ok := err.(*exec.ExitError); ok {
				return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
			}
			return string(out), err
		},
		namespace: "default",
		timeout:   3 * time.Minute,
		poll:      2 * time.Second,
	}
}

func cmdVerify(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	v := newVerifier()
	if _, err := parseCommand("verify", o, args, stderr, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&v.namespace, "namespace", v.namespace, "namespace of the short-lived probe Pod")
		fs.DurationVar(&v.timeout, "timeout", v.timeout, "time limit of each check")
		fs.Func("cluster", "check only the cluster named `CLUSTER` (repeatable; default: every cluster of the stack)", func(name string) error {
			if name == "" {
				return errors.New("give a cluster's name")
			}
			if !slices.Contains(v.clusters, name) {
				v.clusters = append(v.clusters, name)
			}
			return nil
		})
	}); err != nil {
		return err
	}
	outs, err := readOutputs(ctx, o)
	if err != nil {
		return err
	}
	for _, name := range v.clusters {
		if _, err := clusterOutputs(outs, name); err != nil {
			return err
		}
	}
	return report(stdout, v.verify(ctx, outs))
}

// report prints the checks and fails when one failed.
func report(w io.Writer, checks []check) error {
	failed := 0
	for _, c := range checks {
		fmt.Fprintf(w, "%-4s %s: %s\n", c.status, c.name, c.reason)
		if c.status == "FAIL" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed: %w", failed, len(checks), errChecksFailed)
	}
	return nil
}

// verify runs every check, in order, for each of v.clusters (none: every
// cluster of the stack). With more than one cluster in the stack, each
// check's name starts with its cluster's, "[prod] ".
func (v *verifier) verify(ctx context.Context, outs auto.OutputMap) []check {
	all := stack.ClusterNames(outs)
	clusters := v.clusters
	if len(clusters) == 0 {
		clusters = all
	}
	var checks []check
	for _, cluster := range clusters {
		own := v.clusterChecks(ctx, outs, cluster)
		if len(all) > 1 {
			for i := range own {
				own[i].name = "[" + cluster + "] " + own[i].name
			}
		}
		checks = append(checks, own...)
	}
	return checks
}

// clusterChecks runs one cluster's checks on its outputs (stack.ForCluster).
func (v *verifier) clusterChecks(ctx context.Context, outs auto.OutputMap, cluster string) []check {
	flat, err := stack.ForCluster(outs, cluster)
	if err != nil {
		return []check{{name: "cluster " + cluster, status: "FAIL", reason: err.Error()}}
	}
	checks := []check{v.agentCheck(flat)}
	checks = append(checks, v.podChecks(ctx, flat)...)
	checks = append(checks, v.hostToAPICheck(ctx, flat))
	checks = append(checks, v.pipelineCheck(ctx, flat))
	return checks
}

// pipelineCheck looks in the cluster for what the demo pipeline deployed
// through the agent: the ci-demo Deployment, available, in ciNamespace.
func (v *verifier) pipelineCheck(ctx context.Context, outs auto.OutputMap) check {
	c := check{name: "a pipeline ran and deployed through the agent"}
	url, _ := outs[string(stack.PipelineURL)].Value.(string)
	ns, _ := outs[string(stack.CINamespace)].Value.(string)
	kc, _ := outs[string(stack.Kubeconfig)].Value.(string)
	switch {
	case ns == "":
		c.status, c.reason = "N/A", "this stack runs no demo pipeline (runner:enabled is false, or no up since it was set)"
		return c
	case url == "" || kc == "":
		c.status, c.reason = "N/A", "the stack has no pipelineUrl or kubeconfig output yet: run up"
		return c
	}
	client, err := v.kube([]byte(kc))
	if err != nil {
		c.status, c.reason = "FAIL", err.Error()
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	d, err := client.AppsV1().Deployments(ns).Get(ctx, components.CIDemoName, metav1.GetOptions{})
	switch {
	case err != nil:
		c.status, c.reason = "FAIL", fmt.Sprintf("Deployment %s/%s, which pipeline %s deploys, is not readable: %v", ns, components.CIDemoName, url, err)
	case d.Status.AvailableReplicas < 1:
		c.status, c.reason = "FAIL", fmt.Sprintf("Deployment %s/%s has no available replica: look at pipeline %s and `kubectl -n %s describe deploy %s`", ns, components.CIDemoName, url, ns, components.CIDemoName)
	default:
		c.status, c.reason = "PASS", fmt.Sprintf("pipeline %s deployed %s/%s through the agent (%d available)", url, ns, components.CIDemoName, d.Status.AvailableReplicas)
	}
	return c
}

// agentCheck reads the agent's connection from the outputs.
func (v *verifier) agentCheck(outs auto.OutputMap) check {
	c := check{name: "GitLab agent connected"}
	name, _ := outs[string(stack.AgentName)].Value.(string)
	at, _ := outs[string(stack.AgentConnectedAt)].Value.(string)
	switch {
	case at != "":
		c.status, c.reason = "PASS", fmt.Sprintf("agent %q connected at %s (as GitLab reported during up)", name, at)
	case name != "":
		c.status, c.reason = "N/A", fmt.Sprintf("the stack has agent %q but no agentConnectedAt output to read its connection from", name)
	default:
		c.status, c.reason = "N/A", "this stack deploys no GitLab agent yet (no agentName output)"
	}
	return c
}

// podChecks runs a short-lived Pod in the cluster that connects to GitLab's
// private HTTPS and KAS ports, one container per port.
func (v *verifier) podChecks(ctx context.Context, outs auto.OutputMap) []check {
	https := check{name: "Pod in the cluster reaches GitLab HTTPS"}
	kas := check{name: "Pod in the cluster reaches GitLab KAS"}
	fail := func(status, reason string) []check {
		https.status, https.reason = status, reason
		kas.status, kas.reason = status, reason
		return []check{https, kas}
	}
	kc, _ := outs[string(stack.Kubeconfig)].Value.(string)
	if kc == "" {
		return fail("N/A", "the stack has no kubeconfig output yet: run up")
	}
	webTarget, _, err := gitlabWebTarget(outs)
	if err != nil {
		return fail("N/A", err.Error())
	}
	kasTarget, err := kasTarget(outs)
	if err != nil {
		return fail("N/A", err.Error())
	}
	https.name += " " + webTarget
	kas.name += " " + kasTarget
	client, err := v.kube([]byte(kc))
	if err != nil {
		return fail("FAIL", err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	codes, err := v.runProbePod(ctx, client, map[string]string{"https": webTarget, "kas": kasTarget})
	if err != nil {
		return fail("FAIL", err.Error())
	}
	for _, c := range []*check{&https, &kas} {
		key := map[*check]string{&https: "https", &kas: "kas"}[c]
		target := map[*check]string{&https: webTarget, &kas: kasTarget}[c]
		if codes[key] == 0 {
			c.status, c.reason = "PASS", "a TCP connection to "+target+" opened from a Pod"
		} else {
			c.status, c.reason = "FAIL", fmt.Sprintf("nc to %s from a Pod exited %d: check the private network, GitLab's listen address and the nodes' routes", target, codes[key])
		}
	}
	return []check{https, kas}
}

// runProbePod creates the probe Pod, waits for its containers to finish and
// returns their exit codes by container name; the Pod is deleted after.
func (v *verifier) runProbePod(ctx context.Context, client kubernetes.Interface, targets map[string]string) (map[string]int32, error) {
	deadline := int64(v.timeout / time.Second)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "gitlab-kapsule-verify-",
			Namespace:    v.namespace,
			Labels:       map[string]string{"app.kubernetes.io/name": "gitlab-kapsule-verify"},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:         corev1.RestartPolicyNever,
			ActiveDeadlineSeconds: &deadline,
		},
	}
	for _, name := range []string{"https", "kas"} {
		host, port, _ := net.SplitHostPort(targets[name])
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
			Name:    name,
			Image:   probeImage,
			Command: []string{"sh", "-c", fmt.Sprintf("nc -w 5 %s %s </dev/null", host, port)},
		})
	}
	created, err := client.CoreV1().Pods(v.namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create the probe Pod in namespace %s: %w", v.namespace, err)
	}
	defer func() {
		// A fresh context: the Pod goes even after a Ctrl-C.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = client.CoreV1().Pods(v.namespace).Delete(dctx, created.Name, metav1.DeleteOptions{})
	}()
	tick := time.NewTicker(v.poll)
	defer tick.Stop()
	for {
		p, err := client.CoreV1().Pods(v.namespace).Get(ctx, created.Name, metav1.GetOptions{})
		if err == nil {
			codes := map[string]int32{}
			for _, st := range p.Status.ContainerStatuses {
				if st.State.Terminated != nil {
					codes[st.Name] = st.State.Terminated.ExitCode
				}
			}
			if len(codes) == len(targets) {
				return codes, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the probe Pod %s did not finish in time (%v): is the image %s pullable through the gateway's NAT? (kubectl describe pod)", created.Name, context.Cause(ctx), probeImage)
		case <-tick.C:
		}
	}
}

// kasTarget is KAS's "host:port" from the kasAddress output (grpcs://IP:8150).
func kasTarget(outs auto.OutputMap) (string, error) {
	raw, err := stringOutput(outs, stack.KASAddress)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("the kasAddress output %q is not a URL", raw)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "8150"), nil
	}
	return u.Host, nil
}

// httpCode is what curl -w %{http_code} prints.
var httpCode = regexp.MustCompile(`\b([1-5]\d\d)\b`)

// hostToAPICheck asks the GitLab host, over SSH through the bastion, to
// reach the Kapsule API server (any HTTP answer counts: the API demands a
// token for more).
func (v *verifier) hostToAPICheck(ctx context.Context, outs auto.OutputMap) check {
	c := check{name: "GitLab host reaches the Kapsule API"}
	sshLine, err := stringOutput(outs, stack.SSHCommand)
	if err != nil {
		c.status, c.reason = "N/A", err.Error()
		return c
	}
	api, err := stringOutput(outs, stack.KapsuleAPIServerURL)
	if err != nil {
		c.status, c.reason = "N/A", err.Error()
		return c
	}
	c.name += " " + api
	fields := strings.Fields(sshLine)
	argv := append([]string{fields[0], "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"}, fields[1:]...)
	argv = append(argv, fmt.Sprintf("curl -sk -o /dev/null -w '%%{http_code}' --max-time 10 %s/version", api))
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	out, err := v.run(ctx, argv)
	if m := httpCode.FindStringSubmatch(out); m != nil {
		c.status, c.reason = "PASS", "the API answered HTTP "+m[1]+" to curl on the GitLab host"
		return c
	}
	c.status = "FAIL"
	if err != nil {
		c.reason = fmt.Sprintf("ssh to the GitLab host through the bastion failed (%v): is your key in network:sshPublicKey and your address in network:allowedIpRanges?", err)
	} else {
		c.reason = fmt.Sprintf("curl on the GitLab host got no HTTP answer from %s (printed %q): check kapsule:apiAllowedCidrs includes the gateway's address", api, strings.TrimSpace(out))
	}
	return c
}

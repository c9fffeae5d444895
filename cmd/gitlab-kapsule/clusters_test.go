package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
)

const (
	prodKubeconfig    = "apiVersion: v1\nkind: Config\n# prod\n"
	stagingKubeconfig = "apiVersion: v1\nkind: Config\n# staging\n"
	prodAPI           = "https://prod.api.k8s.fr-par.scw.cloud:6443"
	stagingAPI        = "https://staging.api.k8s.nl-ams.scw.cloud:6443"
)

// twoClusters is what a kapsule:clusters stack with clusters prod and
// staging has for outputs: the shared ones at the top level, each
// cluster's under clusters and its kubeconfig under the secret kubeconfigs.
func twoClusters() auto.OutputMap {
	outs := outputs("bastion@203.0.113.7:61000", "https://10.0.0.10")
	delete(outs, "kubeconfig")
	delete(outs, "kapsuleApiServerUrl")
	outs["gitlabRootPassword"] = auto.OutputValue{Value: "hunter2", Secret: true}
	outs["clusters"] = auto.OutputValue{Value: map[string]any{
		"prod": map[string]any{
			"kapsuleApiServerUrl": prodAPI,
			"agentName":           "glk-dev-prod",
			"agentConnectedAt":    "2026-11-26T10:00:00Z",
			"ciNamespace":         "shop",
		},
		"staging": map[string]any{
			"kapsuleApiServerUrl": stagingAPI,
			"agentName":           "glk-dev-staging",
			"ciNamespace":         "gitops-demo",
		},
	}}
	outs["pipelineUrl"] = auto.OutputValue{Value: "https://10.0.0.10/root/kubernetes-agent/-/pipelines/7"}
	outs["kubeconfigs"] = auto.OutputValue{Value: map[string]any{"prod": prodKubeconfig, "staging": stagingKubeconfig}, Secret: true}
	return outs
}

// fakePulumiWithOutputs puts on PATH a `pulumi` whose stack "dev" has outs
// (`stack output --json`, secrets as the CLI masks them, and with
// --show-secrets in the clear), and returns a project folder and backend
// to run the command against.
func fakePulumiWithOutputs(t *testing.T, outs auto.OutputMap) (dir, backend string) {
	t.Helper()
	clearCredentials(t)
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "test")
	plain, secret := map[string]any{}, map[string]any{}
	for k, v := range outs {
		plain[k], secret[k] = v.Value, v.Value
		if v.Secret {
			plain[k] = "[secret]"
		}
	}
	bin := t.TempDir()
	for name, m := range map[string]map[string]any{"plain.json": plain, "secret.json": secret} {
		b, err := json.Marshal(m)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), b, 0o600))
	}
	script := `#!/bin/sh
[ "$1" = --non-interactive ] && shift
case "$*" in
"version"*) echo v` + deploy.PulumiVersion + ` ;;
"stack select"*" dev"*) exit 0 ;;
"stack select"*) echo "error: no stack named '$4' found" >&2; exit 255 ;;
"stack output"*--show-secrets*) cat '` + filepath.Join(bin, "secret.json") + `' ;;
"stack output"*) cat '` + filepath.Join(bin, "plain.json") + `' ;;
"config"*) echo '{}' ;;
*) echo "error: the fake pulumi does not know: $*" >&2; exit 1 ;;
esac
`
	require.NoError(t, os.WriteFile(filepath.Join(bin, "pulumi"), []byte(script), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("HOME", t.TempDir())
	return projectWith(t, map[string]string{"Pulumi.dev.yaml": "config: {}\n"}), "file://" + t.TempDir()
}

// TestOutputsOfOneCluster: --cluster prints one cluster's outputs under
// their one-cluster names; without it the stack's outputs are as they are.
func TestOutputsOfOneCluster(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, twoClusters())
	cli := func(args ...string) (int, string, string) {
		return runCLI(append([]string{"--dir", dir, "--backend", backend}, args...)...)
	}

	code, out, errOut := cli("outputs", "--cluster", "prod", "kubeconfig", "--show-secrets")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, prodKubeconfig+"\n", out)
	assert.NotContains(t, out, "staging")

	code, out, errOut = cli("outputs", "kubeconfig", "--cluster=staging", "--show-secrets")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, stagingKubeconfig+"\n", out, "flags after the output's name count too")

	code, out, errOut = cli("outputs", "--cluster", "staging", "kapsuleApiServerUrl")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, stagingAPI+"\n", out)

	code, _, errOut = cli("outputs", "--cluster", "prod", "kubeconfig")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, `output "kubeconfig" is a secret: add --show-secrets`)

	// The list: the cluster's outputs and the shared ones, no other cluster's.
	code, out, errOut = cli("outputs", "--cluster", "prod")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "agentName:             glk-dev-prod\n")
	assert.Contains(t, out, "kapsuleApiServerUrl:   "+prodAPI+"\n")
	assert.Contains(t, out, "kubeconfig:            [secret] (--show-secrets prints it)\n")
	assert.Contains(t, out, "kasAddress:            grpcs://10.0.0.10:8150\n")
	assert.NotContains(t, out, "staging")
	assert.NotContains(t, out, "clusters:")
	assert.NotContains(t, out, "hunter2")

	code, out, errOut = cli("outputs", "--cluster", "staging", "--json")
	require.Equal(t, 0, code, errOut)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	assert.Equal(t, "glk-dev-staging", m["agentName"])
	assert.Equal(t, secretMask, m["kubeconfig"])
	assert.NotContains(t, m, "kubeconfigs")

	// Without --cluster: the stack's outputs as they are, kubeconfigs masked.
	code, out, errOut = cli("outputs")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "clusters:              {")
	assert.Contains(t, out, "kubeconfigs:           [secret] (--show-secrets prints it)\n")
	assert.NotContains(t, out, "# prod")
}

// TestOutputsOfAClusterTheStackHasNot: an unknown --cluster is a usage
// error naming the clusters; a per-cluster output of a stack with several
// clusters needs --cluster.
func TestOutputsOfAClusterTheStackHasNot(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, twoClusters())
	for _, args := range [][]string{{"outputs", "--cluster", "nope"}, {"outputs", "--cluster", "nope", "kubeconfig", "--show-secrets"}} {
		code, out, errOut := runCLI(append([]string{"--dir", dir, "--backend", backend}, args...)...)
		assert.Equal(t, exitUsage, code, "%v", args)
		assert.Empty(t, out, "%v", args)
		assert.Contains(t, errOut, `gitlab-kapsule: --cluster nope: the stack has no cluster "nope": its clusters are prod, staging`+"\n", "%v", args)
	}

	for _, name := range []string{"kubeconfig", "agentName"} {
		code, out, errOut := runCLI("--dir", dir, "--backend", backend, "outputs", name, "--show-secrets")
		assert.Equal(t, exitUsage, code, name)
		assert.Empty(t, out, name)
		first, _, _ := strings.Cut(errOut, "\n")
		assert.Contains(t, first, `output "`+name+`" is one per cluster and stack "dev" has 2 clusters (prod, staging): name one with --cluster`, name)
		assert.NotContains(t, errOut, "# prod")
	}

	// A shared output needs no --cluster.
	code, out, errOut := runCLI("--dir", dir, "--backend", backend, "outputs", "kasAddress")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "grpcs://10.0.0.10:8150\n", out)
}

// TestOutputsOfAOneClusterStack: a one-cluster stack's only cluster is
// config.DefaultClusterName, which --cluster may name.
func TestOutputsOfAOneClusterStack(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, outputs("bastion@203.0.113.7:61000", "https://10.0.0.10"))
	code, out, errOut := runCLI("--dir", dir, "--backend", backend, "outputs", "kubeconfig", "--show-secrets")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "apiVersion: v1\nkind: Config\n\n", out)
	code, out, errOut = runCLI("--dir", dir, "--backend", backend, "outputs", "--cluster", "kapsule", "kubeconfig", "--show-secrets")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "apiVersion: v1\nkind: Config\n\n", out)
	code, _, errOut = runCLI("--dir", dir, "--backend", backend, "outputs", "--cluster", "prod")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `the stack has no cluster "prod": its clusters are kapsule`)
}

// TestOutputsFlagsInAnyOrder: flags may follow the output's name, up to a "--".
func TestOutputsFlagsInAnyOrder(t *testing.T) {
	for args, want := range map[string]struct {
		args []string
		json bool
	}{
		"NAME":                         {[]string{"NAME"}, false},
		"--json NAME --show-secrets":   {[]string{"NAME"}, true},
		"NAME --cluster prod --json":   {[]string{"NAME"}, true},
		"NAME -- --show-secrets":       {[]string{"NAME", "--show-secrets"}, false},
		"-- NAME --json":               {[]string{"NAME", "--json"}, false},
		"A --json B":                   {[]string{"A", "B"}, true},
		"--cluster prod A --json -- B": {[]string{"A", "B"}, true},
		"A -- --json":                  {[]string{"A", "--json"}, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		js := fs.Bool("json", false, "")
		fs.Bool("show-secrets", false, "")
		fs.String("cluster", "", "")
		require.NoError(t, parseFlags(fs, strings.Fields(args), true), args)
		assert.Equal(t, want.args, fs.Args(), args)
		assert.Equal(t, want.json, *js, args)
	}
	// Other commands keep what follows their first argument (ssh's remote command).
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Bool("exec", false, "")
	require.NoError(t, parseFlags(fs, []string{"ls", "--exec"}, false))
	assert.Equal(t, []string{"ls", "--exec"}, fs.Args())
}

// clusterFakes stands in for the clusters verify reaches: a fake API per
// kubeconfig whose probe Pod's containers exit as codes says, and an SSH
// client whose curl gets an answer from the APIs in answering only.
type clusterFakes struct {
	codes     map[string]map[string]int32 // kubeconfig → container → exit code
	answering []string
	deployed  map[string]string // kubeconfig → namespace holding an available ci-demo
	kubes     []string          // kubeconfigs asked for, in order
	apis      []string          // the ssh commands' last argument, in order
}

func (f *clusterFakes) verifier() *verifier {
	v := newVerifier()
	v.poll = 10 * time.Millisecond
	v.timeout = 5 * time.Second
	v.kube = func(kc []byte) (kubernetes.Interface, error) {
		f.kubes = append(f.kubes, string(kc))
		codes, ok := f.codes[string(kc)]
		if !ok {
			return nil, errors.New("unknown kubeconfig")
		}
		var objects []runtime.Object
		if ns, ok := f.deployed[string(kc)]; ok {
			objects = append(objects, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: components.CIDemoName, Namespace: ns},
				Status:     appsv1.DeploymentStatus{AvailableReplicas: 1},
			})
		}
		client := fake.NewClientset(objects...)
		client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
			p.Name = "gitlab-kapsule-verify-x"
			for _, c := range p.Spec.Containers {
				p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
					Name: c.Name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: codes[c.Name]}},
				})
			}
			return false, nil, nil
		})
		return client, nil
	}
	v.run = func(_ context.Context, argv []string) (string, error) {
		last := argv[len(argv)-1]
		f.apis = append(f.apis, last)
		for _, api := range f.answering {
			if strings.Contains(last, api+"/version") {
				return "401", nil
			}
		}
		return "000", nil
	}
	return v
}

// TestVerifyChecksEachCluster: each cluster's checks read that cluster's
// kubeconfig and API, and name the cluster; --cluster picks clusters.
func TestVerifyChecksEachCluster(t *testing.T) {
	f := &clusterFakes{
		codes: map[string]map[string]int32{
			prodKubeconfig:    {"https": 0, "kas": 0},
			stagingKubeconfig: {"https": 0, "kas": 1},
		},
		answering: []string{prodAPI},
		// The pipeline deployed to prod's ciNamespace; staging has nothing.
		deployed: map[string]string{prodKubeconfig: "shop"},
	}
	var out strings.Builder
	err := report(&out, f.verifier().verify(t.Context(), twoClusters()))
	require.ErrorIs(t, err, errChecksFailed)
	assert.Contains(t, err.Error(), "3 of 10 checks failed")
	want := []string{
		`PASS [prod] GitLab agent connected: agent "glk-dev-prod" connected at 2026-11-26T10:00:00Z`,
		"PASS [prod] Pod in the cluster reaches GitLab HTTPS 10.0.0.10:443: ",
		"PASS [prod] Pod in the cluster reaches GitLab KAS 10.0.0.10:8150: ",
		"PASS [prod] GitLab host reaches the Kapsule API " + prodAPI + ": the API answered HTTP 401",
		"PASS [prod] a pipeline ran and deployed through the agent: pipeline https://10.0.0.10/root/kubernetes-agent/-/pipelines/7 deployed shop/ci-demo",
		`N/A  [staging] GitLab agent connected: the stack has agent "glk-dev-staging" but no agentConnectedAt output`,
		"PASS [staging] Pod in the cluster reaches GitLab HTTPS 10.0.0.10:443: ",
		"FAIL [staging] Pod in the cluster reaches GitLab KAS 10.0.0.10:8150: nc to 10.0.0.10:8150 from a Pod exited 1",
		"FAIL [staging] GitLab host reaches the Kapsule API " + stagingAPI + ": curl on the GitLab host got no HTTP answer from " + stagingAPI,
		"FAIL [staging] a pipeline ran and deployed through the agent: Deployment gitops-demo/ci-demo, which pipeline https://10.0.0.10/root/kubernetes-agent/-/pipelines/7 deploys, is not readable",
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, len(want), out.String())
	for i, w := range want {
		assert.True(t, strings.HasPrefix(lines[i], w), "line %d:\n got %s\nwant %s...", i, lines[i], w)
	}
	// Each cluster's own kubeconfig, for its Pod and its pipeline checks.
	assert.Equal(t, []string{prodKubeconfig, prodKubeconfig, stagingKubeconfig, stagingKubeconfig}, f.kubes)
	require.Len(t, f.apis, 2)
	assert.Contains(t, f.apis[0], prodAPI+"/version")
	assert.Contains(t, f.apis[1], stagingAPI+"/version")
	assert.NotContains(t, out.String(), "kind: Config", "no kubeconfig is printed")

	// --cluster prod: prod's checks alone, still named.
	f.kubes, f.apis = nil, nil
	v := f.verifier()
	v.clusters = []string{"prod"}
	out.Reset()
	require.NoError(t, report(&out, v.verify(t.Context(), twoClusters())))
	assert.Equal(t, 5, strings.Count(out.String(), "PASS [prod] "), out.String())
	assert.NotContains(t, out.String(), "staging")
	assert.Equal(t, []string{prodKubeconfig, prodKubeconfig}, f.kubes)
	require.Len(t, f.apis, 1)
	assert.Contains(t, f.apis[0], prodAPI+"/version")

	// A cluster not up yet is not available, not failed, and the others are checked.
	outs := twoClusters()
	outs["kubeconfigs"] = auto.OutputValue{Value: map[string]any{"prod": prodKubeconfig}, Secret: true}
	f.kubes = nil
	out.Reset()
	_ = report(&out, f.verifier().verify(t.Context(), outs))
	assert.Contains(t, out.String(), "N/A  [staging] Pod in the cluster reaches GitLab HTTPS: the stack has no kubeconfig output yet")
	assert.Equal(t, []string{prodKubeconfig, prodKubeconfig}, f.kubes)
}

// TestVerifyOfAOneClusterStackNamesNoCluster: naming the only cluster
// changes nothing, and no check line names it.
func TestVerifyOfAOneClusterStackNamesNoCluster(t *testing.T) {
	const kc = "apiVersion: v1\nkind: Config\n"
	f := &clusterFakes{codes: map[string]map[string]int32{kc: {"https": 0, "kas": 0}}, answering: []string{"https://abc.api.k8s.fr-par.scw.cloud:6443"}}
	outs := outputs("bastion@203.0.113.7:61000", "https://10.0.0.10")
	var all, named strings.Builder
	require.NoError(t, report(&all, f.verifier().verify(t.Context(), outs)))
	v := f.verifier()
	v.clusters = []string{"kapsule"}
	require.NoError(t, report(&named, v.verify(t.Context(), outs)))
	assert.Equal(t, all.String(), named.String())
	assert.Equal(t, 5, strings.Count(all.String(), "\n"))
	assert.NotContains(t, all.String(), "[")
	assert.NotContains(t, all.String(), "kapsule]")
}

// TestVerifyOfAClusterTheStackHasNot: an unknown --cluster is a usage
// error naming the clusters, before any check runs.
func TestVerifyOfAClusterTheStackHasNot(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, twoClusters())
	code, out, errOut := runCLI("--dir", dir, "--backend", backend, "verify", "--cluster", "prod", "--cluster", "nope")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out, "no check ran")
	assert.Contains(t, errOut, `--cluster nope: the stack has no cluster "nope": its clusters are prod, staging`)

	code, _, errOut = runCLI("--dir", dir, "--backend", backend, "verify", "--cluster", "")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "give a cluster's name")
}

// TestClusterFlagIsDocumented: outputs and verify list --cluster; ssh and
// tunnel, which reach the GitLab host every cluster shares, refuse it.
func TestClusterFlagIsDocumented(t *testing.T) {
	errOut := helpOf(t, "outputs")
	assert.Contains(t, errOut, "usage: gitlab-kapsule outputs [NAME] [--cluster CLUSTER] [--show-secrets] [--json]\n")
	assert.Contains(t, errOut, "-cluster CLUSTER")
	errOut = helpOf(t, "verify")
	assert.Contains(t, errOut, "usage: gitlab-kapsule verify [--cluster CLUSTER]... [--namespace NS] [--timeout DURATION]\n")
	assert.Contains(t, errOut, "-cluster CLUSTER")
	assert.Contains(t, errOut, "repeatable; default: every cluster of the stack")
	errOut = helpOf(t)
	assert.Contains(t, errOut, "or with --cluster one cluster's")
	assert.Contains(t, errOut, "for every cluster or each --cluster")

	for _, cmd := range []string{"ssh", "tunnel"} {
		errOut := helpOf(t, cmd)
		assert.Contains(t, errOut, "usage: gitlab-kapsule "+cmd+" [FLAGS]\n", cmd)
		assert.NotContains(t, errOut, "cluster", cmd)
		code, _, errOut := runCLI(cmd, "--cluster", "prod")
		assert.Equal(t, exitUsage, code, cmd)
		assert.Contains(t, errOut, "flag provided but not defined: -cluster", cmd)
	}
}

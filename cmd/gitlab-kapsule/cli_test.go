package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

func TestBadBackendURL(t *testing.T) {
	clearCredentials(t)
	for _, v := range credentialVars {
		t.Setenv(v, "set")
	}
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "test")
	missing := filepath.Join(t.TempDir(), "nope")
	for backend, want := range map[string]string{
		"ftp://host/state":      `unknown scheme "ftp"`,
		"file://state":          "not an absolute path",
		"file://" + missing:     "does not exist: create it (mkdir -p " + missing + ")",
		"postgres://u:hunter2@": "names no bucket or host",
		// URLs that do not parse still have their password hidden.
		"postgres://u:hunter2 x@host/db": `"postgres://u:xxxxx@host/db" is not a URL`,
		"postgres://u:hunter2%zz@host":   `"postgres://u:xxxxx@host" is not a URL`,
	} {
		for _, cmd := range []string{"up", "outputs"} {
			code, _, errOut := runCLI("--dir", projectDir(t), "--backend", backend, cmd)
			assert.Equal(t, exitMissing, code, "%s %s", cmd, backend)
			assert.Contains(t, errOut, want, "%s %s", cmd, backend)
			assert.NotContains(t, errOut, "hunter2", "a password in the URL is never printed")
		}
	}
}

func TestOutputsNeedThePassphraseOfAFileBackend(t *testing.T) {
	clearCredentials(t)
	code, _, errOut := runCLI("--dir", projectDir(t), "outputs")
	assert.Equal(t, exitMissing, code)
	assert.Contains(t, errOut, "PULUMI_CONFIG_PASSPHRASE is not set")
}

// outputs is what a deployed stack's outputs look like.
func outputs(bastion, gitlabURL string) auto.OutputMap {
	return auto.OutputMap{
		"bastion":             {Value: bastion},
		"gitlabUrl":           {Value: gitlabURL},
		"gitlabPrivateIp":     {Value: "10.0.0.10"},
		"kasAddress":          {Value: "grpcs://10.0.0.10:8150"},
		"sshCommand":          {Value: "ssh -J " + bastion + " root@glk-dev-gitlab.glk-dev-pn.internal"},
		"kapsuleApiServerUrl": {Value: "https://abc.api.k8s.fr-par.scw.cloud:6443"},
		"kubeconfig":          {Value: "apiVersion: v1\nkind: Config\n", Secret: true},
	}
}

// TestVerifyReportsEachCheck runs verify with a fake cluster whose probe
// Pod's HTTPS container connects and KAS container does not, and an SSH
// client that gets an HTTP answer from the API.
func TestVerifyReportsEachCheck(t *testing.T) {
	client := fake.NewClientset()
	var created *corev1.Pod
	// The fake stores the Pod as created: give it the finished state a
	// kubelet would report, HTTPS connected and KAS refused.
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		p.Name = "gitlab-kapsule-verify-x"
		p.Status.ContainerStatuses = []corev1.ContainerStatus{
			{Name: "https", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
			{Name: "kas", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
		}
		created = p.DeepCopy()
		return false, nil, nil
	})
	var sshArgv []string
	v := newVerifier()
	v.poll = 10 * time.Millisecond
	v.timeout = 5 * time.Second
	v.kube = func(kc []byte) (kubernetes.Interface, error) {
		assert.Contains(t, string(kc), "kind: Config")
		return client, nil
	}
	v.run = func(_ context.Context, argv []string) (string, error) {
		sshArgv = argv
		return "401", nil
	}
	checks := v.verify(t.Context(), outputs("bastion@203.0.113.7:61000", "https://10.0.0.10"))
	var out strings.Builder
	err := report(&out, checks)
	require.ErrorIs(t, err, errChecksFailed)
	assert.Contains(t, out.String(), "N/A  GitLab agent connected: this stack deploys no GitLab agent yet")
	assert.Contains(t, out.String(), "PASS Pod in the cluster reaches GitLab HTTPS 10.0.0.10:443")
	assert.Contains(t, out.String(), "FAIL Pod in the cluster reaches GitLab KAS 10.0.0.10:8150: nc to 10.0.0.10:8150 from a Pod exited 1")
	assert.Contains(t, out.String(), "PASS GitLab host reaches the Kapsule API https://abc.api.k8s.fr-par.scw.cloud:6443: the API answered HTTP 401")
	assert.NotContains(t, out.String(), "kind: Config", "the kubeconfig is never printed")

	require.NotNil(t, created)
	assert.Equal(t, corev1.RestartPolicyNever, created.Spec.RestartPolicy)
	for _, c := range created.Spec.Containers {
		assert.Equal(t, probeImage, c.Image, "pinned image")
	}
	pods, err := client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "the probe Pod is deleted")
	assert.Equal(t, []string{"ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-J", "bastion@203.0.113.7:61000", "root@glk-dev-gitlab.glk-dev-pn.internal"}, sshArgv[:8])
	assert.Contains(t, sshArgv[8], "https://abc.api.k8s.fr-par.scw.cloud:6443/version")

	// Without a cluster yet, the Pod checks are not available, not failed.
	outs := outputs("bastion@203.0.113.7:61000", "https://10.0.0.10")
	delete(outs, "kubeconfig")
	outs["agentName"] = auto.OutputValue{Value: "kapsule"}
	outs["agentConnectedAt"] = auto.OutputValue{Value: "2026-11-26T10:00:00Z"}
	out.Reset()
	require.NoError(t, report(&out, v.verify(t.Context(), outs)))
	assert.Contains(t, out.String(), `PASS GitLab agent connected: agent "kapsule" connected at 2026-11-26T10:00:00Z`)
	assert.Contains(t, out.String(), "N/A  Pod in the cluster reaches GitLab HTTPS: the stack has no kubeconfig output yet")
}

// TestTunnelReachesGitLabThroughARealBastion forwards a local port through
// a real sshd on loopback to a loopback web server standing in for GitLab.
func TestTunnelReachesGitLabThroughARealBastion(t *testing.T) {
	b := harness.StartBastion(t)
	gitlab := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "gitlab sign-in page")
	}))
	defer gitlab.Close()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(key, []byte(b.PrivateKey), 0o600))
	port := harness.FreePort(t)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var out harness.SyncBuffer // written by the tunnel
	outs := outputs(fmt.Sprintf("%s@%s", b.User, b.Addr()), gitlab.URL)
	go func() {
		done <- serveTunnel(ctx, outs, tunnelFlags{port: port, identity: key, hostKey: b.HostKeyFingerprint()}, &out, io.Discard)
	}()
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/users/sign_in", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return true
	}, 20*time.Second, 100*time.Millisecond)
	assert.Equal(t, "gitlab sign-in page", body)
	cancel()
	require.NoError(t, <-done, "Ctrl-C closes the tunnel cleanly")
	u, _ := url.Parse(gitlab.URL)
	assert.Contains(t, out.String(), "to GitLab at "+u.Host)

	// A wrong host key pin is refused: the browser gets no page.
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	go func() {
		done <- serveTunnel(ctx2, outs, tunnelFlags{port: port, identity: key, hostKey: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, io.Discard, io.Discard)
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			resp.Body.Close()
			return false
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "a wrong host key gets no page")
	cancel2()
	require.NoError(t, <-done)
}

func TestSSHNeedsAKeyForTheTunnel(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	err := serveTunnel(t.Context(), outputs("bastion@203.0.113.7:61000", "https://10.0.0.10"), tunnelFlags{port: 8443}, io.Discard, io.Discard)
	require.ErrorIs(t, err, errMissing)
	assert.Contains(t, err.Error(), "pass --identity")
}

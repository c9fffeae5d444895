// Package cloud is level 5 of the test ladder: the whole stack on real
// Scaleway, run only when Scaleway credentials are in the environment.
package cloud

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"golang.org/x/crypto/ssh"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// credentials are what the Scaleway provider reads from the environment.
var credentials = []string{"SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_DEFAULT_PROJECT_ID"}

// TestScaleway deploys a stack on real Scaleway, checks its outputs and
// that the Kapsule cluster answers with the kubeconfig output, and destroys
// it (also when a step fails). It costs money and about half an hour.
func TestScaleway(t *testing.T) {
	var missing []string
	for _, v := range credentials {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		t.Skipf("level 5 (real Scaleway) skipped: set %s to run it", strings.Join(missing, ", "))
	}

	eng := harness.NewEngine(t)
	// This level has the network: let the engine fetch the Scaleway, TLS,
	// random and GitLab plugins that the SDKs name.
	delete(eng.Env, "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION")
	provider := buildGitLabWait(t)

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("ci%d", time.Now().Unix())
	s := eng.Stack(t, harness.StackOptions{
		Project: "gitlab-kapsule",
		Stack:   name,
		Program: stack.Deploy,
		Config: auto.ConfigMap{
			"scaleway:region":      {Value: envOr("SCW_DEFAULT_REGION", "fr-par")},
			"scaleway:zone":        {Value: envOr("SCW_DEFAULT_ZONE", "fr-par-1")},
			"network:sshPublicKey": {Value: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))},
		},
		Settings: func(p *workspace.Project) {
			p.Plugins = &workspace.Plugins{Providers: []workspace.PluginOptions{{Name: "gitlabwait", Path: provider}}}
		},
	})
	t.Cleanup(func() {
		// A fresh context: t.Context() is already cancelled here.
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
		defer cancel()
		if _, err := s.Destroy(ctx, optdestroy.RunProgram(true)); err != nil {
			t.Errorf("destroy stack %s failed; remove its resources by hand (pulumi destroy with PULUMI_BACKEND_URL=%s): %v", name, eng.Backend, err)
		}
	})

	res := harness.Up(t, s)
	for _, key := range []stack.Output{stack.GitLabURL, stack.GitLabPrivateIP, stack.KASAddress, stack.Bastion, stack.SSHCommand, stack.Kubeconfig,
		stack.AgentConnectedAt, stack.RunnerID, stack.PipelineURL} {
		if v, ok := res.Outputs[string(key)]; !ok || v.Value == nil || v.Value == "" {
			t.Errorf("stack output %s is missing", key)
		}
	}
	kubeconfig, _ := res.Outputs[string(stack.Kubeconfig)].Value.(string)
	if kubeconfig == "" {
		t.Fatal("no kubeconfig output: cannot check the cluster")
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig([]byte(kubeconfig))
	if err != nil {
		t.Fatalf("the kubeconfig output does not parse: %v", err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := c.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("the cluster does not answer with the kubeconfig output: %v", err)
	}
	if len(nodes.Items) == 0 {
		t.Error("the cluster has no nodes")
	}
	// What the demo pipeline deployed through the agent (up waited for the
	// pipeline; this checks its result in the cluster).
	ns, _ := res.Outputs[string(stack.CINamespace)].Value.(string)
	if d, err := c.AppsV1().Deployments(ns).Get(t.Context(), components.CIDemoName, metav1.GetOptions{}); err != nil {
		t.Errorf("the pipeline's Deployment %s/%s is not there: %v", ns, components.CIDemoName, err)
	} else if d.Status.AvailableReplicas < 1 {
		t.Errorf("the pipeline's Deployment %s/%s has no available replica", ns, components.CIDemoName)
	}
	if changed := harness.Changed(harness.Up(t, s).Summary); len(changed) != 0 {
		t.Errorf("a second up changed %v, want nothing", changed)
	}
}

// buildGitLabWait builds the project's readiness provider and returns the
// folder that holds it, for the project's plugins.providers.
func buildGitLabWait(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(dir, "pulumi-resource-gitlabwait"),
		"github.com/gitlab-kapsule/gitlab-kapsule/provider/cmd/pulumi-resource-gitlabwait")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the gitlabwait provider: %v\n%s", err, out)
	}
	return dir
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

package engine

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8smeta "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// Namespaces of the agent test, apart from the other tests' namespaces.
const (
	agentNS  = "glk-engine-agent"
	targetNS = "glk-engine-target"
	agentTok = "glagent-engine-test-token-0123456789"
)

// agentProgram runs the Agent's cluster side exactly as the component does
// (components.DeclareAgentClusterAccess), with a Kubernetes provider fed a
// secret kubeconfig as Kapsule's output feeds it. Only the Helm release is
// left out: it needs the chart, which cannot be downloaded here.
func agentProgram(kubeconfig []byte) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		prov, err := kubernetes.NewProvider(ctx, "kapsule", &kubernetes.ProviderArgs{
			Kubeconfig: pulumi.ToSecret(pulumi.String(string(kubeconfig))).(pulumi.StringOutput),
		})
		if err != nil {
			return err
		}
		_, err = components.DeclareAgentClusterAccess(ctx, "agent", &components.AgentClusterAccessArgs{
			AgentNamespace: agentNS,
			Namespaces:     []string{targetNS},
			ClusterAdmin:   config.GetBool(ctx, "agent:clusterAdmin"),
			Token:          pulumi.ToSecret(pulumi.String(agentTok)).(pulumi.StringOutput),
		}, pulumi.Provider(prov))
		return err
	}
}

// TestAgentClusterAccessUnderEngine: the real engine creates the agent's
// namespaces, token Secret and RBAC in a real API server; the agent's service
// account may then deploy to its target namespace and nothing more; a second
// up changes nothing; clusterAdmin adds exactly one binding; destroy removes it all.
func TestAgentClusterAccessUnderEngine(t *testing.T) {
	kube := harness.SharedKube(t)
	eng := harness.NewEngine(t)
	eng.InstallKubernetesPlugin(t)
	c := kube.Clientset
	ctx := t.Context()
	get := k8smeta.GetOptions{}

	s := eng.Stack(t, harness.StackOptions{Stack: "agent", Program: agentProgram(kube.KubeConfig)})
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _ = s.Destroy(context.Background())
		}
	})

	harness.Up(t, s)
	secret, err := c.CoreV1().Secrets(agentNS).Get(ctx, components.AgentTokenSecret, get)
	if err != nil {
		t.Fatalf("the agent's token Secret: %v", err)
	}
	if got := string(secret.Data["token"]); got != agentTok {
		t.Errorf("Secret key token = %q, want the agent token: agentk reads exactly this key", got)
	}

	agent := harness.ServiceAccountUser(agentNS, components.AgentServiceAccount)
	for _, tc := range []struct {
		verb, resource, ns string
		want               bool
	}{
		{"create", "deployments.apps", targetNS, true},
		{"create", "services", targetNS, true},
		{"create", "deployments.apps", "default", false},
		{"get", "secrets", "kube-system", false},
		{"create", "clusterrolebindings.rbac.authorization.k8s.io", "", false},
		{"create", "rolebindings.rbac.authorization.k8s.io", targetNS, false},
	} {
		if got := harness.Expect(t, c, agent, tc.verb, tc.resource, tc.ns, tc.want); got != tc.want {
			t.Errorf("agent may %s %s in %q: %v, want %v", tc.verb, tc.resource, tc.ns, got, tc.want)
		}
	}

	if changed := harness.Changed(harness.Up(t, s).Summary); len(changed) != 0 {
		t.Errorf("a second up changed %v, want nothing", changed)
	}

	if err := s.SetConfig(ctx, "agent:clusterAdmin", auto.ConfigValue{Value: "true"}); err != nil {
		t.Fatal(err)
	}
	if changed := harness.Changed(harness.Up(t, s).Summary); changed["create"] != 1 || len(changed) != 1 {
		t.Errorf("agent:clusterAdmin did %v, want exactly one new binding", changed)
	}
	if !harness.Expect(t, c, agent, "create", "clusterrolebindings.rbac.authorization.k8s.io", "", true) {
		t.Error("with agent:clusterAdmin the agent should be cluster-admin")
	}

	harness.Destroy(t, s)
	destroyed = true
	for _, ns := range []string{agentNS, targetNS} {
		harness.NamespaceGone(t, c, ns)
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Get(ctx, "gitlab-agent-cluster-admin", get); !apierrors.IsNotFound(err) {
		t.Errorf("the cluster-admin binding survived destroy: %v", err)
	}
}

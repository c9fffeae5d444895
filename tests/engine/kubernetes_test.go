package engine

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	k8smeta "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

const demoNamespace = "glk-engine-demo"

// demoProgram is a small stand-in for the cluster side of Agent and
// GitOpsDemo: a Kubernetes provider fed a kubeconfig the way Kapsule's
// output feeds it (a secret string), then a Namespace, a ServiceAccount with
// a Role bound to it, a Deployment that is awaited for real and a Service.
// Config demo:replicas and demo:message change the Deployment in place.
func demoProgram(kubeconfig []byte) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg := config.New(ctx, "demo")
		replicas := cfg.GetInt("replicas")
		if replicas == 0 {
			replicas = 1
		}
		message := cfg.Get("message")
		if message == "" {
			message = "hello"
		}

		prov, err := kubernetes.NewProvider(ctx, "kapsule", &kubernetes.ProviderArgs{
			Kubeconfig: pulumi.ToSecret(pulumi.String(string(kubeconfig))).(pulumi.StringOutput),
		})
		if err != nil {
			return err
		}
		k8s := pulumi.Provider(prov)
		ns, err := corev1.NewNamespace(ctx, "demo", &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(demoNamespace)},
		}, k8s)
		if err != nil {
			return err
		}
		in := func(name string) *metav1.ObjectMetaArgs {
			return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: ns.Metadata.Name()}
		}
		sa, err := corev1.NewServiceAccount(ctx, "demo-sa", &corev1.ServiceAccountArgs{Metadata: in("deployer")}, k8s)
		if err != nil {
			return err
		}
		role, err := rbacv1.NewRole(ctx, "demo-role", &rbacv1.RoleArgs{
			Metadata: in("deployer"),
			Rules: rbacv1.PolicyRuleArray{
				rbacv1.PolicyRuleArgs{
					ApiGroups: pulumi.StringArray{pulumi.String("apps")},
					Resources: pulumi.StringArray{pulumi.String("deployments")},
					Verbs:     pulumi.ToStringArray([]string{"get", "list", "watch", "patch"}),
				},
				rbacv1.PolicyRuleArgs{
					ApiGroups: pulumi.StringArray{pulumi.String("")},
					Resources: pulumi.StringArray{pulumi.String("configmaps")},
					Verbs:     pulumi.ToStringArray([]string{"get", "list"}),
				},
			},
		}, k8s)
		if err != nil {
			return err
		}
		if _, err := rbacv1.NewRoleBinding(ctx, "demo-rolebinding", &rbacv1.RoleBindingArgs{
			Metadata: in("deployer"),
			RoleRef: rbacv1.RoleRefArgs{
				ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
				Kind:     pulumi.String("Role"),
				Name:     role.Metadata.Name().Elem(),
			},
			Subjects: rbacv1.SubjectArray{rbacv1.SubjectArgs{
				Kind:      pulumi.String("ServiceAccount"),
				Name:      sa.Metadata.Name().Elem(),
				Namespace: ns.Metadata.Name(),
			}},
		}, k8s); err != nil {
			return err
		}
		labels := pulumi.StringMap{"app": pulumi.String("web")}
		if _, err := appsv1.NewDeployment(ctx, "demo-web", &appsv1.DeploymentArgs{
			Metadata: in("web"),
			Spec: appsv1.DeploymentSpecArgs{
				Replicas: pulumi.Int(replicas),
				Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
				Template: corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: labels},
					Spec: corev1.PodSpecArgs{
						ServiceAccountName: sa.Metadata.Name(),
						Containers: corev1.ContainerArray{corev1.ContainerArgs{
							Name:  pulumi.String("web"),
							Image: pulumi.String("nginx:1.27"),
							Env: corev1.EnvVarArray{corev1.EnvVarArgs{
								Name: pulumi.String("MESSAGE"), Value: pulumi.String(message),
							}},
							Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{ContainerPort: pulumi.Int(80)}},
						}},
					},
				},
			},
		}, k8s); err != nil {
			return err
		}
		if _, err := corev1.NewService(ctx, "demo-svc", &corev1.ServiceArgs{
			Metadata: in("web"),
			Spec: corev1.ServiceSpecArgs{
				Selector: labels,
				Ports:    corev1.ServicePortArray{corev1.ServicePortArgs{Port: pulumi.Int(80)}},
			},
		}, k8s); err != nil {
			return err
		}
		ctx.Export("namespace", ns.Metadata.Name())
		return nil
	}
}

// TestKubernetesLifecycle runs the real engine and the real Kubernetes
// provider plugin against the test cluster: up creates, a second up changes
// nothing, a config change updates the Deployment in place, destroy removes
// the namespace.
func TestKubernetesLifecycle(t *testing.T) {
	kube := harness.SharedKube(t)
	kube.PodsReady(t)
	eng := harness.NewEngine(t)
	eng.InstallKubernetesPlugin(t)
	c := kube.Clientset

	s := eng.Stack(t, harness.StackOptions{Program: demoProgram(kube.KubeConfig)})
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _ = s.Destroy(context.Background())
		}
	})

	step := time.Now()
	res := harness.Up(t, s)
	t.Logf("first up: %v in %s", harness.Changed(res.Summary), time.Since(step).Round(time.Millisecond))
	if got := harness.Changed(res.Summary)["create"]; got != 8 { // stack, provider, 6 objects
		t.Errorf("first up created %d resources, want 8: %v", got, res.Summary.ResourceChanges)
	}
	if got := res.Outputs["namespace"].Value; got != demoNamespace {
		t.Errorf("output namespace = %v, want %s", got, demoNamespace)
	}
	ctx := t.Context()
	get := k8smeta.GetOptions{}
	if _, err := c.CoreV1().ServiceAccounts(demoNamespace).Get(ctx, "deployer", get); err != nil {
		t.Error(err)
	}
	if _, err := c.RbacV1().RoleBindings(demoNamespace).Get(ctx, "deployer", get); err != nil {
		t.Error(err)
	}
	if _, err := c.CoreV1().Services(demoNamespace).Get(ctx, "web", get); err != nil {
		t.Error(err)
	}
	dep, err := c.AppsV1().Deployments(demoNamespace).Get(ctx, "web", get)
	if err != nil {
		t.Fatal(err)
	}
	if dep.Status.AvailableReplicas != 1 {
		t.Errorf("after up the Deployment has %d available replicas, want 1", dep.Status.AvailableReplicas)
	}
	uid := dep.UID

	deployer := harness.ServiceAccountUser(demoNamespace, "deployer")
	for _, tc := range []struct {
		verb, resource string
		want           bool
	}{
		{"patch", "deployments.apps", true},
		{"list", "configmaps", true},
		{"delete", "deployments.apps", false},
		{"get", "secrets", false},
	} {
		if got := harness.Expect(t, c, deployer, tc.verb, tc.resource, demoNamespace, tc.want); got != tc.want {
			t.Errorf("deployer may %s %s: %v, want %v", tc.verb, tc.resource, got, tc.want)
		}
	}

	step = time.Now()
	res = harness.Up(t, s)
	t.Logf("second up: %v in %s", harness.Changed(res.Summary), time.Since(step).Round(time.Millisecond))
	if changed := harness.Changed(res.Summary); len(changed) != 0 {
		t.Errorf("a second up changed %v, want nothing", changed)
	}

	if err := s.SetAllConfig(ctx, auto.ConfigMap{
		"demo:replicas": {Value: "2"},
		"demo:message":  {Value: "bonjour"},
	}); err != nil {
		t.Fatal(err)
	}
	step = time.Now()
	res = harness.Up(t, s)
	t.Logf("update: %v in %s", harness.Changed(res.Summary), time.Since(step).Round(time.Millisecond))
	if changed, want := harness.Changed(res.Summary), map[string]int{"update": 1}; !maps.Equal(changed, want) {
		t.Errorf("the config change did %v, want %v", changed, want)
	}
	dep, err = c.AppsV1().Deployments(demoNamespace).Get(ctx, "web", get)
	if err != nil {
		t.Fatal(err)
	}
	if dep.UID != uid {
		t.Errorf("the Deployment was replaced (uid %s, was %s), want an update in place", dep.UID, uid)
	}
	if env := dep.Spec.Template.Spec.Containers[0].Env; len(env) != 1 || env[0].Value != "bonjour" {
		t.Errorf("Deployment env = %v, want MESSAGE=bonjour", env)
	}
	if dep.Status.AvailableReplicas != 2 || dep.Status.UpdatedReplicas != 2 {
		t.Errorf("after the update the Deployment has %d available, %d updated replicas, want 2 and 2",
			dep.Status.AvailableReplicas, dep.Status.UpdatedReplicas)
	}

	step = time.Now()
	harness.Destroy(t, s)
	destroyed = true
	t.Logf("destroy in %s", time.Since(step).Round(time.Millisecond))
	harness.NamespaceGone(t, c, demoNamespace)
}

// TestEngineInlineProgram proves the engine harness alone: an inline
// program with no plugin runs up, keeps a secret output secret, and
// destroys, all against the file backend.
func TestEngineInlineProgram(t *testing.T) {
	t.Parallel()
	eng := harness.NewEngine(t)
	s := eng.Stack(t, harness.StackOptions{Stack: "inline", Program: func(ctx *pulumi.Context) error {
		ctx.Export("greeting", pulumi.String("hello"))
		ctx.Export("token", pulumi.ToSecret(pulumi.String("s3cr3t")))
		return nil
	}})
	res := harness.Up(t, s)
	if got := res.Outputs["greeting"].Value; got != "hello" {
		t.Errorf("greeting = %v, want hello", got)
	}
	if tok := res.Outputs["token"]; !tok.Secret || tok.Value != "s3cr3t" {
		t.Errorf("token = %+v, want the secret s3cr3t", tok)
	}
	harness.Destroy(t, s)
}

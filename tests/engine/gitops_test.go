package engine

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8smeta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	stackconfig "github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

const (
	fluxTestNS  = "glk-engine-flux"
	fluxTestCA  = "test CA PEM"
	fluxTestPwd = "deploy-token-value-0123456789"
)

// fluxKinds are the Flux objects the demo creates, which a controller would mark Ready.
var fluxKinds = []schema.GroupVersionKind{
	{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "GitRepository"},
	{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"},
}

// fluxProgram runs the GitOps demo's cluster side exactly as the component
// does (components.DeclareFluxSync), after the namespace that the Flux release
// creates in production. Config gitops:interval changes the objects in place.
func fluxProgram(kubeconfig []byte) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		interval := time.Minute
		if v := config.Get(ctx, "gitops:interval"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			interval = d
		}
		prov, err := kubernetes.NewProvider(ctx, "kapsule", &kubernetes.ProviderArgs{
			Kubeconfig: pulumi.ToSecret(pulumi.String(string(kubeconfig))).(pulumi.StringOutput),
		})
		if err != nil {
			return err
		}
		ns, err := corev1.NewNamespace(ctx, "flux-namespace", &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(fluxTestNS)},
		}, pulumi.Provider(prov))
		if err != nil {
			return err
		}
		_, err = components.DeclareFluxSync(ctx, "gitops", &components.FluxSyncArgs{
			FluxNamespace: fluxTestNS,
			DemoNamespace: stackconfig.GitOpsDemoNamespace,
			Interval:      interval,
			Timeout:       time.Minute,
			CloneURL:      pulumi.String(components.DemoCloneURL("https://10.0.0.10", "root/kubernetes-agent")),
			Branch:        pulumi.String("main"),
			Username:      pulumi.String("flux-gitops-demo"),
			Password:      pulumi.ToSecret(pulumi.String(fluxTestPwd)).(pulumi.StringOutput),
			CACert:        pulumi.String(fluxTestCA),
			Namespace:     ns,
		}, pulumi.Provider(prov))
		return err
	}
}

// readyDelay is how long markFluxReady leaves a new object unready, so the
// test can tell that `up` really waited for the Ready condition.
const readyDelay = 3 * time.Second

// markFluxReady stands in for Flux's controllers: it reports every
// GitRepository and Kustomization in the namespace Ready for its current
// generation, readyDelay after its creation, which is what
// `pulumi.com/waitFor: condition=Ready` waits for.
func markFluxReady(ctx context.Context, c client.Client) {
	for ctx.Err() == nil {
		for _, gvk := range fluxKinds {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			if err := c.List(ctx, list, client.InNamespace(fluxTestNS)); err != nil {
				continue
			}
			for i := range list.Items {
				o := &list.Items[i]
				if time.Since(o.GetCreationTimestamp().Time) < readyDelay {
					continue
				}
				gen := o.GetGeneration()
				if got, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration"); got == gen {
					continue
				}
				_ = unstructured.SetNestedField(o.Object, gen, "status", "observedGeneration")
				_ = unstructured.SetNestedSlice(o.Object, []any{map[string]any{
					"type": "Ready", "status": "True", "reason": "Succeeded", "message": "marked by the test",
					"observedGeneration": gen, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
				}}, "status", "conditions")
				_ = c.Status().Update(ctx, o)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestFluxSyncUnderEngine: the real engine creates the demo's Secret,
// GitRepository and Kustomization (with Flux's generated CRDs) and waits for
// their Ready condition; a second up changes nothing; a new interval updates
// both objects in place; destroy removes them.
func TestFluxSyncUnderEngine(t *testing.T) {
	kube := harness.SharedKube(t)
	harness.FluxCRDs(t, kube)
	eng := harness.NewEngine(t)
	eng.InstallKubernetesPlugin(t)
	ctx := t.Context()
	markCtx, stop := context.WithCancel(ctx)
	defer stop()
	go markFluxReady(markCtx, kube.Client)

	s := eng.Stack(t, harness.StackOptions{Stack: "flux", Program: fluxProgram(kube.KubeConfig)})
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _ = s.Destroy(context.Background())
		}
	})

	start := time.Now()
	harness.Up(t, s)
	if took := time.Since(start); took < readyDelay {
		t.Errorf("up returned after %s, before Flux could report Ready (%s): it did not wait for the condition", took, readyDelay)
	}
	secret, err := kube.Clientset.CoreV1().Secrets(fluxTestNS).Get(ctx, components.DemoAuthSecret, k8smeta.GetOptions{})
	if err != nil {
		t.Fatalf("the deploy token Secret: %v", err)
	}
	want := map[string]string{"username": "flux-gitops-demo", "password": fluxTestPwd, "ca.crt": fluxTestCA}
	for k, v := range want {
		if got := string(secret.Data[k]); got != v {
			t.Errorf("Secret key %s = %q, want %q (Flux reads exactly these keys)", k, got, v)
		}
	}
	repo := get(t, kube.Client, fluxKinds[0])
	if url, _, _ := unstructured.NestedString(repo.Object, "spec", "url"); url != "https://10.0.0.10/root/kubernetes-agent.git" {
		t.Errorf("GitRepository url = %q, want the HTTPS clone URL on the private address", url)
	}
	ks := get(t, kube.Client, fluxKinds[1])
	if prune, _, _ := unstructured.NestedBool(ks.Object, "spec", "prune"); !prune {
		t.Error("the Kustomization must prune what is removed from Git")
	}

	if changed := harness.Changed(harness.Up(t, s).Summary); len(changed) != 0 {
		t.Errorf("a second up changed %v, want nothing", changed)
	}

	if err := s.SetConfig(ctx, "gitops:interval", auto.ConfigValue{Value: "2m"}); err != nil {
		t.Fatal(err)
	}
	if changed, want := harness.Changed(harness.Up(t, s).Summary), map[string]int{"update": 2}; !maps.Equal(changed, want) {
		t.Errorf("a new gitops:interval did %v, want %v (both objects in place)", changed, want)
	}
	if iv, _, _ := unstructured.NestedString(get(t, kube.Client, fluxKinds[0]).Object, "spec", "interval"); iv != "2m" {
		t.Errorf("GitRepository interval = %q after the update, want 2m", iv)
	}

	harness.Destroy(t, s)
	destroyed = true
	for _, gvk := range fluxKinds {
		o := &unstructured.Unstructured{}
		o.SetGroupVersionKind(gvk)
		if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: fluxTestNS, Name: components.DemoName}, o); !apierrors.IsNotFound(err) {
			t.Errorf("%s survived destroy: %v", gvk.Kind, err)
		}
	}
	harness.NamespaceGone(t, kube.Clientset, fluxTestNS)
}

// get reads the demo's Flux object of one kind.
func get(t *testing.T, c client.Client, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	t.Helper()
	o := &unstructured.Unstructured{}
	o.SetGroupVersionKind(gvk)
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: fluxTestNS, Name: components.DemoName}, o); err != nil {
		t.Fatalf("%s %s/%s: %v", gvk.Kind, fluxTestNS, components.DemoName, err)
	}
	return o
}

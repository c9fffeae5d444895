package manifests

import (
	"io/fs"
	"path"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

func TestDemoDeploymentIsProductionShaped(t *testing.T) {
	t.Parallel()
	raw, err := fs.ReadFile(Demo, DemoDir+"/deployment.yaml")
	require.NoError(t, err)
	var d appsv1.Deployment
	require.NoError(t, yaml.UnmarshalStrict(raw, &d))

	assert.NotEqual(t, "default", d.Namespace, "the demo has its own namespace")
	c := d.Spec.Template.Spec.Containers[0]
	assert.Regexp(t, `:\d+\.\d+\.\d+`, c.Image, "the image is pinned")
	assert.NotNil(t, c.ReadinessProbe)
	assert.NotNil(t, c.LivenessProbe)
	assert.False(t, c.Resources.Requests.Cpu().IsZero())
	assert.False(t, c.Resources.Limits.Memory().IsZero())
	require.NotNil(t, d.Spec.Template.Spec.SecurityContext.RunAsNonRoot)
	assert.True(t, *d.Spec.Template.Spec.SecurityContext.RunAsNonRoot)
	assert.Equal(t, d.Spec.Selector.MatchLabels, map[string]string{"app.kubernetes.io/name": "nginx"})
}

func TestEveryKustomizedFileIsEmbedded(t *testing.T) {
	t.Parallel()
	raw, err := fs.ReadFile(Demo, DemoDir+"/kustomization.yaml")
	require.NoError(t, err)
	var k struct{ Resources []string }
	require.NoError(t, yaml.Unmarshal(raw, &k))
	require.NotEmpty(t, k.Resources)
	for _, r := range k.Resources {
		_, err := fs.Stat(Demo, DemoDir+"/"+r)
		assert.NoError(t, err, "kustomization lists %s", r)
	}
}

// Every object sits in gitops-demo, and none is a Namespace: the program
// owns that namespace, so Flux must never apply (and so never prune) it.
func TestDemoObjectsAreNamespacedAndNoNamespace(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(Demo, DemoDir+"/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		if path.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := fs.ReadFile(Demo, f)
		require.NoError(t, err)
		var obj struct {
			Kind     string
			Metadata struct{ Namespace string }
		}
		require.NoError(t, yaml.Unmarshal(raw, &obj))
		assert.NotEqual(t, "Namespace", obj.Kind, f)
		assert.Equal(t, "gitops-demo", obj.Metadata.Namespace, f)
	}
}

package stack_test

import (
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every resource that a plugin serves asks for the plugin version its SDK
// was generated for: the SDKs carry none themselves (pulumi-gitlab/sdk/v6
// has no version at all), and an unpinned resource gets whatever plugin the
// engine finds, or the newest one it can download.
func TestEveryPluginResourceCarriesItsSDKsVersion(t *testing.T) {
	t.Parallel()
	want := plugins.All()
	assert.Equal(t, "6.11.0", want["gitlab"].Version, "the v6 SDK's provider release")

	seen := map[string]bool{}
	for _, r := range mustRun(t, fullConfig()).cloud.Resources() {
		if !r.Custom {
			assert.Empty(t, r.Version, "component %s %s has no plugin", r.Type, r.Name)
			continue
		}
		pkg := plugins.Package(r.Type)
		seen[pkg] = true
		require.Contains(t, want, pkg, "%s %s belongs to a package with no pinned version", r.Type, r.Name)
		assert.Equal(t, want[pkg].Version, r.Version, "%s %s asks for its plugin's version", r.Type, r.Name)
	}
	for pkg := range want {
		assert.True(t, seen[pkg], "the program uses package %s, so it has resources of it", pkg)
	}
}

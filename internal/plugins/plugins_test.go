package plugins_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pinned plugin versions are the SDK versions go.mod builds with: an
// SDK upgrade without its plugin pin (or the reverse) fails here.
func TestPinsMatchTheSDKsInGoMod(t *testing.T) {
	t.Parallel()
	gomod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	for pkg, p := range plugins.All() {
		if pkg == "gitlabwait" {
			continue // built from this module, versioned by its own SDK
		}
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(p.Module) + `\s+v(\S+)`).FindSubmatch(gomod)
		require.NotNil(t, m, "go.mod requires %s", p.Module)
		assert.Equal(t, string(m[1]), p.Version, "plugin %s is pinned to its SDK's version in go.mod", pkg)
	}
}

func TestPackageOfATypeToken(t *testing.T) {
	t.Parallel()
	for token, pkg := range map[string]string{
		"scaleway:instance/server:Server": "scaleway",
		"pulumi:providers:gitlab":         "gitlab",
		"gitlabwait:index:GitLabReady":    "gitlabwait",
		"gitlab-kapsule:index:GitLabHost": "gitlab-kapsule",
		"kubernetes:helm.sh/v3:Release":   "kubernetes",
	} {
		assert.Equal(t, pkg, plugins.Package(token), token)
	}
}

package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGitOpsValidationNamesKeyAndFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // every fragment must appear in the error; none: valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"chart version not pinned", func(c *Config) { c.GitOps.FluxChartVersion = "2.x" }, []string{"gitops:fluxChartVersion", "pinned", "2.17.0"}},
		{"chart version with v", func(c *Config) { c.GitOps.FluxChartVersion = "v2.17.0" }, []string{"gitops:fluxChartVersion"}},
		{"interval not a duration", func(c *Config) { c.GitOps.Interval = "5" }, []string{"gitops:interval", "not a duration", "1m"}},
		{"interval too short", func(c *Config) { c.GitOps.Interval = "1s" }, []string{"gitops:interval", "from 10s to 24h0m0s"}},
		{"timeout too long", func(c *Config) { c.GitOps.Timeout = "2h" }, []string{"gitops:timeout", "from 30s to 1h0m0s"}},
		{"timeout not a duration", func(c *Config) { c.GitOps.Timeout = "soon" }, []string{"gitops:timeout", "not a duration"}},
		{"demo namespace not the agent's", func(c *Config) { c.Agent.Namespaces = []string{"apps"} }, []string{"agent:namespaces", `"gitops-demo"`, "gitops:enabled to false"}},
		{"disabled skips every check", func(c *Config) {
			c.GitOps = GitOps{Enabled: false, FluxChartVersion: "latest", Interval: "x", Timeout: "y"}
			c.Agent.Namespaces = []string{"apps"}
		}, nil},
		{"other namespaces beside the demo's", func(c *Config) { c.Agent.Namespaces = []string{"apps", "gitops-demo"} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tt.change(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestGitOpsDefaults(t *testing.T) {
	t.Parallel()
	g := Defaults().GitOps
	assert.True(t, g.Enabled, "the demo is part of the stack unless turned off")
	assert.Contains(t, Defaults().Agent.Namespaces, GitOpsDemoNamespace, "the agent creates the demo's namespace by default")
	assert.NotEqual(t, FluxNamespace, AgentNamespace)
}

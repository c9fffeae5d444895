package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testcheck"
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
		{"interval too short", func(c *Config) { c.GitOps.Interval = time.Second }, []string{"gitops:interval", "from 10s to 24h0m0s"}},
		{"timeout too long", func(c *Config) { c.GitOps.Timeout = 2 * time.Hour }, []string{"gitops:timeout", "from 30s to 1h0m0s"}},
		{"demo namespace not the agent's", func(c *Config) { c.Agent.Namespaces = []string{"apps"} }, []string{"agent:namespaces", `"gitops-demo"`, "gitops:enabled to false"}},
		{"disabled skips every check", func(c *Config) {
			c.GitOps = GitOps{Enabled: false, FluxChartVersion: "latest", Interval: time.Nanosecond, Timeout: 48 * time.Hour}
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
			testcheck.ErrorMentions(t, err, tt.want)
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

// The durations are parsed once, where they are read: a value that is not a
// duration is the reader's finding, and only while the demo is on.
func TestGitOpsDurationsAreReadOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config map[string]string
		want   []string // every fragment must appear in the error; none: valid
	}{
		{"interval not a duration", map[string]string{"gitops:interval": "5"}, []string{"gitops:interval", "not a duration", "1m"}},
		{"timeout not a duration", map[string]string{"gitops:timeout": "soon"}, []string{"gitops:timeout", "not a duration"}},
		{"disabled keeps any value", map[string]string{"gitops:enabled": "false", "gitops:interval": "x", "gitops:timeout": "y"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadFromRunInfo(t, tt.config)
			testcheck.ErrorMentions(t, err, tt.want)
		})
	}
	c, err := loadFromRunInfo(t, map[string]string{"gitops:interval": "90s", "gitops:timeout": "2m"})
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, c.GitOps.Interval)
	assert.Equal(t, 2*time.Minute, c.GitOps.Timeout)
}

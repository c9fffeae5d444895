package config

import (
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testcheck"
)

func TestRunnerNamesKeyAndFix(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"unpinned chart", func(c *Config) { c.Runner.ChartVersion = "latest" }, []string{"runner:chartVersion \"latest\" must be a pinned gitlab-runner chart version such as \"0.82.0\""}},
		{"chart of another minor", func(c *Config) { c.Runner.ChartVersion = "0.81.0" }, []string{"runner:chartVersion \"0.81.0\" ships GitLab Runner 18.4.0", "gitlabHost:version is \"18.5.2-ce.0\"", "0.82.0 for 18.5"}},
		{"several charts ship GitLab's minor: the newest is named", func(c *Config) {
			c.GitLab.Version, c.Agent.ImageTag, c.Agent.ChartVersion = "18.6.1-ce.0", "v18.6.1", "2.21.0"
		}, []string{"use the chart of GitLab's minor release (0.83.3 for 18.6)"}},
		{"no chart known for GitLab's minor", func(c *Config) {
			c.GitLab.Version, c.Agent.ImageTag, c.Agent.ChartVersion = "18.9.0-ce.0", "v18.9.0", "2.30.0"
		}, []string{"runner:chartVersion \"0.82.0\" ships GitLab Runner 18.5.0", "the chart whose appVersion is 18.9.x"}},
		{"no concurrency", func(c *Config) { c.Runner.Concurrency = 0 }, []string{"runner:concurrency 0 must be from 1 to 50"}},
		{"too much concurrency", func(c *Config) { c.Runner.Concurrency = 500 }, []string{"runner:concurrency 500"}},
		{"tag with a comma", func(c *Config) { c.Runner.Tags = []string{"a,b"} }, []string{"runner:tags[0] \"a,b\" is not a runner tag"}},
		{"tag twice", func(c *Config) { c.Runner.Tags = []string{"gpu", "gpu"} }, []string{"runner:tags[1] \"gpu\" is listed twice"}},
		{"ci_access project not a path", func(c *Config) { c.Agent.CIAccessProjects = []string{"demo", "team/app", "team/app"} }, []string{
			"agent:ciAccessProjects[0] \"demo\" is not a project's full path", "agent:ciAccessProjects[2] \"team/app\" is listed twice"}},
		{"off, nothing is judged", func(c *Config) { c.Runner.Enabled, c.Runner.ChartVersion, c.Runner.Concurrency = false, "latest", 0 }, nil},
		{"good", func(c *Config) {
			c.Runner.Tags, c.Runner.Concurrency = []string{"kapsule", "linux/amd64"}, 10
			c.Agent.CIAccessProjects = []string{"team/app", "group/sub/app.web"}
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tt.change(&c)
			c.derive()
			testcheck.ErrorMentions(t, c.Validate(), tt.want)
		})
	}
}

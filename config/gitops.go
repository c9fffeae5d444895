package config

import (
	"slices"
	"time"
)

// GitOpsDemoNamespace is where the GitOps demo's nginx runs: the namespace
// the demo manifests (manifests/demo) name. The Agent creates it, as one of
// agent:namespaces; the demo does not create it again.
const GitOpsDemoNamespace = "gitops-demo"

// FluxNamespace is where Flux's controllers, the GitRepository and the
// Kustomization live.
const FluxNamespace = "flux-system"

// GitOps configures the GitOps demo: Flux in the cluster, syncing nginx from
// the agent's configuration project in GitLab.
type GitOps struct {
	// Enabled deploys the demo (gitops:enabled); true by default.
	Enabled bool
	// FluxChartVersion pins the fluxcd-community flux2 Helm chart
	// (gitops:fluxChartVersion).
	FluxChartVersion string
	// Interval is how often Flux polls GitLab and reapplies the manifests
	// when no push notification arrives (gitops:interval), a Go duration.
	Interval string
	// Timeout bounds one apply and its health check, and `up`'s wait for the
	// demo to be Ready (gitops:timeout), a Go duration.
	Timeout string
}

// checkGitOps checks the gitops group and its agreement with the agent's.
func (c *Config) checkGitOps(p *problems) {
	g := &c.GitOps
	if !p.read("gitops:enabled") || !g.Enabled {
		return
	}
	if !chartVersion.MatchString(g.FluxChartVersion) {
		p.add("gitops:fluxChartVersion %q must be a pinned flux2 chart version such as %q (`helm search repo fluxcd-community/flux2 --versions`)", g.FluxChartVersion, Defaults().GitOps.FluxChartVersion)
	}
	duration := func(key, v string, min, max time.Duration) {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			p.add("gitops:%s %q is not a duration: write it like \"1m\" or \"90s\"", key, v)
		case d < min || d > max:
			p.add("gitops:%s %q must be from %s to %s", key, v, min, max)
		}
	}
	duration("interval", g.Interval, 10*time.Second, 24*time.Hour)
	duration("timeout", g.Timeout, 30*time.Second, time.Hour)
	if p.read("agent:namespaces") && !slices.Contains(c.Agent.Namespaces, GitOpsDemoNamespace) {
		p.add("gitops:enabled is true but agent:namespaces does not list %q, where the demo runs: add it, or set gitops:enabled to false", GitOpsDemoNamespace)
	}
}

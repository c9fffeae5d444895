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
	// when no push notification arrives (gitops:interval).
	Interval time.Duration
	// Timeout bounds one apply and its health check, and `up`'s wait for the
	// demo to be Ready (gitops:timeout).
	Timeout time.Duration
}

// Ranges of the GitOps durations: Flux polls at most every 10 s and at least
// daily; an apply gets from 30 s to an hour.
const (
	minInterval = 10 * time.Second
	maxInterval = 24 * time.Hour
	minTimeout  = 30 * time.Second
	maxTimeout  = time.Hour
)

// checkGitOps checks the gitops group, which every cluster with the demo
// shares, and each such cluster's agent namespaces.
func (c *Config) checkGitOps(p *problems) {
	g := &c.GitOps
	if !p.read("gitops:enabled") || !c.AnyGitOps() {
		return
	}
	if !chartVersion.MatchString(g.FluxChartVersion) {
		p.add("gitops:fluxChartVersion %q must be a pinned flux2 chart version such as %q (`helm search repo fluxcd-community/flux2 --versions`)", g.FluxChartVersion, Defaults().GitOps.FluxChartVersion)
	}
	// A value that does not read as a duration is the reader's finding.
	inRange := func(key string, d, min, max time.Duration) {
		if p.read("gitops:"+key) && (d < min || d > max) {
			p.add("gitops:%s %q must be from %s to %s", key, d, min, max)
		}
	}
	inRange("interval", g.Interval, minInterval, maxInterval)
	inRange("timeout", g.Timeout, minTimeout, maxTimeout)
	for _, cl := range c.ClusterList() {
		if cl.GitOps && p.read(cl.Key("agent.namespaces")) && !slices.Contains(cl.Namespaces, GitOpsDemoNamespace) {
			p.add("%s is true but %s does not list %q, where the demo runs: add it, or set %s to false",
				cl.Key("gitops"), cl.Key("agent.namespaces"), GitOpsDemoNamespace, cl.Key("gitops"))
		}
	}
}

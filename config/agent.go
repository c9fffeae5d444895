package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	// dnsLabel is RFC 1123's label: what GitLab requires of an agent name
	// and Kubernetes of a namespace name.
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	chartVersion = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	agentkTag    = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)(-rc\d+)?$`)
	// projectPath is a GitLab project's full path: a namespace (a group and
	// its subgroups, or a user) and the project's path.
	projectPath = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)+$`)
	// systemNamespaces belong to Kubernetes itself: the agent deploys nothing there.
	systemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}
)

// agentChartShips maps gitlab-agent chart releases to the agentk version
// each ships (its appVersion): chart 2.11.0 ↔ 17.8.0, 2.13.0 ↔ 17.10.0,
// 2.20.1 ↔ 18.5.2 (shared/FACTS.md, review of 2026-12-01, from the chart's
// release history as recorded by sparkfabrik/terraform-gitlab-kubernetes-
// gitlab-agent). A chart not listed here is not checked against the tag.
var agentChartShips = map[string]string{
	"2.11.0": "17.8.0",
	"2.13.0": "17.10.0",
	"2.20.1": "18.5.2",
}

// minorOf returns "18.5" of "v18.5.2".
func minorOf(tag string) string {
	parts := strings.SplitN(strings.TrimPrefix(tag, "v"), ".", 3)
	if len(parts) < 2 {
		return tag
	}
	return parts[0] + "." + parts[1]
}

// AgentNamespace is where agentk runs; it is not one of agent:namespaces.
const AgentNamespace = "gitlab-agent"

// checkAgent checks what every cluster's agent shares (the chart, agentk's
// tag, the tunnel) against GitLab's version; checkClusterAgent checks each
// cluster's own.
func (c *Config) checkAgent(p *problems) {
	a := &c.Agent

	if !chartVersion.MatchString(a.ChartVersion) {
		p.add("agent:chartVersion %q must be a pinned chart version such as %q (`helm search repo gitlab/gitlab-agent --versions`)", a.ChartVersion, Defaults().Agent.ChartVersion)
	} else if shipped, known := agentChartShips[a.ChartVersion]; known && agentkTag.MatchString(a.ImageTag) && minorOf(a.ImageTag) != minorOf("v"+shipped) {
		// The chart's templates are made for the agentk it ships.
		p.add("agent:chartVersion %q ships agentk v%s, but agent:imageTag is %q: set agent:imageTag to a v%s.x tag, or pick the chart release that ships your agentk", a.ChartVersion, shipped, a.ImageTag, minorOf("v"+shipped))
	}
	// agentk releases follow GitLab's: the tag of GitLab's own release is
	// the one to suggest, once gitlabHost:version is one the program accepts
	// (until then its message is the one to follow).
	gm, gn, gp, gitLabOK := c.gitLabRelease()
	example := Defaults().Agent.ImageTag
	if gitLabOK {
		example = fmt.Sprintf("v%d.%d.%d", gm, gn, gp)
	}
	if m := agentkTag.FindStringSubmatch(a.ImageTag); m == nil {
		p.add("agent:imageTag %q must be an agentk release tag such as %q", a.ImageTag, example)
	} else if gitLabOK {
		// agentk is supported one minor release either side of GitLab's KAS.
		am, _ := strconv.Atoi(m[1])
		an, _ := strconv.Atoi(m[2])
		if am != gm || an < gn-1 || an > gn+1 {
			p.add("agent:imageTag %q is too far from gitlabHost:version %q: agentk works with KAS of the same minor release or one either side; use %s, the agentk release of that GitLab (or another v%d.%d.x)", a.ImageTag, c.GitLab.Version, example, gm, gn)
		}
	}
	p.listOf("agent:ciAccessProjects", a.CIAccessProjects, projectPath, "is not a project's full path: write it as group/project (as in the project's URL)")
	if tp := a.TunnelPort; p.read("agent:tunnelPort") && (tp < 1024 || tp > 65535) {
		p.add("agent:tunnelPort %d must be an unprivileged local port from 1024 to 65535 (the default is %d)", tp, Defaults().Agent.TunnelPort)
	}
}

// checkClusterAgent checks a cluster's agent: its name and the namespaces
// it may deploy to.
func checkClusterAgent(p *problems, cl Cluster) {
	nameKey, nsKey := cl.Key("agent.name"), cl.Key("agent.namespaces")
	if p.read(nameKey) && cl.agentNamed && !dnsLabel.MatchString(cl.AgentName) {
		p.add("%s %q is not a valid agent name: use at most 63 lowercase letters, digits and dashes, starting and ending with a letter or digit, e.g. %q", nameKey, cl.AgentName, Defaults().Agent.Name)
	}
	if !p.read(nsKey) {
		return
	}
	if p.read(cl.Key("agent.clusterAdmin")) && len(cl.Namespaces) == 0 && !cl.ClusterAdmin {
		p.add("%s is empty, so the agent could deploy nowhere: list the namespaces it deploys to, e.g. [%q]", nsKey, GitOpsDemoNamespace)
	}
	seen := map[string]bool{}
	for i, ns := range cl.Namespaces {
		switch {
		case !dnsLabel.MatchString(ns):
			p.add("%s[%d] %q is not a Kubernetes namespace name: use lowercase letters, digits and dashes", nsKey, i, ns)
		case slices.Contains(systemNamespaces, ns):
			p.add("%s[%d] %q belongs to Kubernetes itself: remove it (use %s if the agent really must manage the system)", nsKey, i, ns, cl.Key("agent.clusterAdmin"))
		case ns == AgentNamespace:
			p.add("%s[%d] %q is the agent's own namespace, which gets only what agentk needs: deploy to another namespace", nsKey, i, ns)
		case seen[ns]:
			p.add("%s[%d] %q is listed twice: remove one", nsKey, i, ns)
		}
		seen[ns] = true
	}
}

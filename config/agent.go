package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

var (
	// dnsLabel is RFC 1123's label: what GitLab requires of an agent name
	// and Kubernetes of a namespace name.
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	chartVersion = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	agentkTag    = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)(-rc\d+)?$`)
	// systemNamespaces belong to Kubernetes itself: the agent deploys nothing there.
	systemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}
)

// AgentNamespace is where agentk runs; it is not one of agent:namespaces.
const AgentNamespace = "gitlab-agent"

// validateAgent checks the agent group against GitLab's version.
func (c *Config) validateAgent() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	a := &c.Agent

	if !dnsLabel.MatchString(a.Name) {
		bad("agent:name %q is not a valid agent name: use at most 63 lowercase letters, digits and dashes, starting and ending with a letter or digit, e.g. \"kapsule\"", a.Name)
	}
	if len(a.Namespaces) == 0 && !a.ClusterAdmin {
		bad("agent:namespaces is empty, so the agent could deploy nowhere: list the namespaces it deploys to, e.g. [\"gitops-demo\"]")
	}
	seen := map[string]bool{}
	for i, ns := range a.Namespaces {
		switch {
		case !dnsLabel.MatchString(ns):
			bad("agent:namespaces[%d] %q is not a Kubernetes namespace name: use lowercase letters, digits and dashes", i, ns)
		case slices.Contains(systemNamespaces, ns):
			bad("agent:namespaces[%d] %q belongs to Kubernetes itself: remove it (use agent:clusterAdmin if the agent really must manage the system)", i, ns)
		case ns == AgentNamespace:
			bad("agent:namespaces[%d] %q is the agent's own namespace, which gets only what agentk needs: deploy to another namespace", i, ns)
		case seen[ns]:
			bad("agent:namespaces[%d] %q is listed twice: remove one", i, ns)
		}
		seen[ns] = true
	}
	if !chartVersion.MatchString(a.ChartVersion) {
		bad("agent:chartVersion %q must be a pinned chart version such as \"2.12.2\" (`helm search repo gitlab/gitlab-agent --versions`)", a.ChartVersion)
	}
	if m := agentkTag.FindStringSubmatch(a.ImageTag); m == nil {
		bad("agent:imageTag %q must be an agentk release tag such as \"v18.5.1\"", a.ImageTag)
	} else if g := gitLabVersion.FindStringSubmatch(c.GitLab.Version); g != nil {
		// agentk is supported one minor release either side of GitLab's KAS.
		am, _ := strconv.Atoi(m[1])
		an, _ := strconv.Atoi(m[2])
		gm, _ := strconv.Atoi(g[1])
		gn, _ := strconv.Atoi(g[2])
		if am != gm || an < gn-1 || an > gn+1 {
			bad("agent:imageTag %q is too far from gitlabHost:version %q: agentk works with KAS of the same minor release or one either side; use v%d.%d.x", a.ImageTag, c.GitLab.Version, gm, gn)
		}
	}
	if p := a.TunnelPort; p < 1024 || p > 65535 {
		bad("agent:tunnelPort %d must be an unprivileged local port from 1024 to 65535 (the default is 18443)", p)
	}
	return errs
}

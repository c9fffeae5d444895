package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Runner configures the GitLab Runner installed in every cluster: GitLab's
// CI/CD half, whose jobs deploy through the clusters' agents.
type Runner struct {
	// Enabled installs a runner in each cluster and waits for the demo
	// pipeline (runner:enabled); true by default.
	Enabled bool
	// ChartVersion pins the gitlab-runner Helm chart (runner:chartVersion).
	ChartVersion string
	// Concurrency is how many jobs one runner runs at once (runner:concurrency).
	Concurrency int
	// Tags are the runners' tags in GitLab besides the cluster's name
	// (runner:tags); the runners also take untagged jobs.
	Tags []string
	// Privileged lets jobs run privileged containers (runner:privileged),
	// which a job could use to take over its node: off by default, with a
	// warning when on.
	Privileged bool
}

// runnerChartShips maps gitlab-runner chart releases to the GitLab Runner
// each ships (its appVersion), from the upstream chart packages' Chart.yaml
// (as stored in DoD-Platform-One/gitlab-runner chart/charts/, e.g. commit
// a85ee3e5 for 0.82.0); 18.5 has no patch release of the runner. A chart
// not listed here is not checked against GitLab's version.
var runnerChartShips = map[string]string{
	"0.81.0": "18.4.0",
	"0.82.0": "18.5.0",
	"0.83.1": "18.6.1",
	"0.83.2": "18.6.2",
	"0.83.3": "18.6.3",
	"0.84.1": "18.7.1",
}

// RunnerNamespace is where each cluster's runner and its job pods run.
const RunnerNamespace = "gitlab-runner"

// maxConcurrency bounds runner:concurrency: a job is a pod on the
// cluster's few nodes.
const maxConcurrency = 50

// runnerTag is what GitLab accepts as a tag here: no commas (the tag list
// separator) and no spaces at either end.
var runnerTag = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$`)

// checkRunner checks the runner group.
func (c *Config) checkRunner(p *problems) {
	r := &c.Runner
	if !p.read("runner:enabled") || !r.Enabled {
		return
	}
	if !chartVersion.MatchString(r.ChartVersion) {
		p.add("runner:chartVersion %q must be a pinned gitlab-runner chart version such as %q (`helm search repo gitlab/gitlab-runner --versions`)", r.ChartVersion, Defaults().Runner.ChartVersion)
	} else if shipped, known := runnerChartShips[r.ChartVersion]; known {
		if gm, gn, _, ok := c.gitLabRelease(); ok && minorOf("v"+shipped) != minorOf(fmt.Sprintf("v%d.%d.0", gm, gn)) {
			p.add("runner:chartVersion %q ships GitLab Runner %s, but gitlabHost:version is %q: use the chart of GitLab's minor release (%s for %d.%d)", r.ChartVersion, shipped, c.GitLab.Version, chartFor(gm, gn), gm, gn)
		}
	}
	if n := r.Concurrency; p.read("runner:concurrency") && (n < 1 || n > maxConcurrency) {
		p.add("runner:concurrency %d must be from 1 to %d jobs at once per runner", n, maxConcurrency)
	}
	p.listOf("runner:tags", r.Tags, runnerTag, "is not a runner tag: use letters, digits and . _ : / -, without spaces or commas")
}

// chartFor names the newest chart release known to ship GitLab Runner
// major.minor (several ship 18.6), or says to look it up.
func chartFor(major, minor int) string {
	want := strconv.Itoa(major) + "." + strconv.Itoa(minor)
	best := ""
	for _, chart := range sortedKeys(runnerChartShips) {
		if strings.HasPrefix(runnerChartShips[chart], want+".") {
			best = chart // sorted: the last match is the newest (one-digit parts)
		}
	}
	if best != "" {
		return best
	}
	return "the chart whose appVersion is " + want + ".x (`helm search repo gitlab/gitlab-runner --versions`)"
}

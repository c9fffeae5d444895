package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// poolZones are the zones of each region where Kapsule pools may run: the
// zones with Instances (scaleway-sdk-go instance/v1 API.Zones(), as in
// zonesByRegion, plus fr-par-3, which has Instances but no Public Gateway).
// The nodes reach the internet through the stack's gateway across the
// regional private network, so a pool need not share the gateway's zone.
var poolZones = map[string][]string{
	"fr-par": {"fr-par-1", "fr-par-2", "fr-par-3"},
	"it-mil": {"it-mil-1"},
	"nl-ams": {"nl-ams-1", "nl-ams-2", "nl-ams-3"},
	"pl-waw": {"pl-waw-1", "pl-waw-2", "pl-waw-3"},
}

// Node system volumes: Kapsule's minimum, block storage's maximum.
const (
	minNodeVolumeGB = 20
	maxNodeVolumeGB = 10240
)

// taintTag is a pool tag Scaleway's cloud controller turns into a node
// taint ("taint=key=value:Effect", cloud-provider-scaleway docs/tags.md, as
// terraform-provider-scaleway docs/resources/k8s_pool.md repeats).
const taintTag = "taint="

// checkClusters checks every cluster, its pools and its agent, then that
// the private network holds all their nodes at once.
func (c *Config) checkClusters(p *problems, pn netip.Prefix) {
	if !p.read(ClustersKey) {
		return
	}
	list := c.ClusterList()
	if c.Clusters != nil && len(list) == 0 {
		p.add("%s is empty, so the stack would have no cluster: list one at least, e.g. [{\"name\": \"staging\"}], or remove %s for the one-cluster form", ClustersKey, ClustersKey)
	}
	clusterAt, agentAt, agentNamed := map[string]string{}, map[string]string{}, map[string]bool{}
	nodes, nodesKnown := 0, true
	for _, cl := range list {
		if cl.index >= 0 {
			key := cl.Key("name")
			switch {
			case !p.read(key):
			case !dnsLabel.MatchString(cl.Name):
				p.add("%s %q is not a cluster name: use lowercase letters, digits and dashes, starting and ending with a letter or digit, e.g. \"staging\"", key, cl.Name)
			case clusterAt[cl.Name] != "":
				p.add("%s %q is also the name of %s: give each cluster its own name", key, cl.Name, clusterAt[cl.Name])
			default:
				clusterAt[cl.Name] = key
			}
		}
		// Every agent is registered in the one configuration project; two
		// agents named after their clusters clash only if the clusters do.
		if key := cl.Key("agent.name"); p.read(key) && cl.AgentName != "" {
			if other := agentAt[cl.AgentName]; other != "" && (cl.agentNamed || agentNamed[cl.AgentName]) {
				p.add("%s %q is also the agent of %s: GitLab needs one name per agent, give each cluster's agent its own", key, cl.AgentName, other)
			}
			agentAt[cl.AgentName] = key
			agentNamed[cl.AgentName] = agentNamed[cl.AgentName] || cl.agentNamed
		}
		n, ok := c.checkCluster(p, cl)
		nodes += n
		nodesKnown = nodesKnown && ok
		checkClusterAgent(p, cl)
	}
	checkNamesApart(p, list)
	if pn.IsValid() && nodesKnown {
		c.checkCapacity(p, pn, nodes)
	}
}

// checkNamesApart keeps the clusters' resource names apart. A cluster's
// resources are named from its prefix ("" for the cluster named
// DefaultClusterName, "<cluster>-" for the others; components.
// ClusterResourceName) followed by a part that may be a pool's name or an
// agent namespace ("kapsule-<prefix><pool>", "agent-<prefix>target-<ns>",
// "agent-<prefix><ns>-<role>"). When one prefix extends another ("" and
// "prod-", or "shop-" and "shop-eu-"), a part of the shorter's cluster that
// starts with the rest ("prod-web", "eu-big") would name a resource twice,
// which the engine refuses in the middle of an update.
func checkNamesApart(p *problems, list []Cluster) {
	prefix := func(c Cluster) string {
		if c.IsDefault() {
			return ""
		}
		return c.Name + "-"
	}
	for _, a := range list {
		for _, b := range list {
			rest, extends := strings.CutPrefix(prefix(b), prefix(a))
			if a.index == b.index || b.Name == "" || !extends || rest == "" {
				continue
			}
			for i, pool := range a.Pools {
				if strings.HasPrefix(pool.Name, rest) {
					p.add("%s %q starts with %q, so its resources could share names with cluster %q's (%s): rename the pool", a.PoolKey(i, "name"), pool.Name, rest, b.Name, b.Key("name"))
				}
			}
			for i, ns := range a.Namespaces {
				if strings.HasPrefix(ns, rest) || strings.HasPrefix("target-"+ns, rest) {
					p.add("%s[%d] %q starts with %q, so the agent's resources could share names with cluster %q's (%s): use another namespace, or rename that cluster", a.Key("agent.namespaces"), i, ns, rest, b.Name, b.Key("name"))
				}
			}
		}
	}
}

// checkCluster checks one cluster and its pools, and returns the most
// nodes it may have (ok is false when a size could not be judged).
func (c *Config) checkCluster(p *problems, cl Cluster) (nodes int, ok bool) {
	if key := cl.Key("version"); p.read(key) && !kapsuleVersion.MatchString(cl.Version) {
		d := Defaults().Kapsule.Version
		p.add("%s %q is not a Kubernetes version: give a minor such as %q (Scaleway then applies its patch releases) or a full version such as \"%s.1\" (pinned, no automatic upgrade); with credentials the preflight checks that Scaleway offers it (`scw k8s version list`)", key, cl.Version, d, d)
	}
	if key := cl.Key("cni"); p.read(key) && !slices.Contains([]string{"cilium", "calico", "cilium_native"}, cl.CNI) {
		p.add("%s %q is not a Kapsule CNI: use cilium (the default), calico or cilium_native", key, cl.CNI)
	}
	if key := cl.Key("apiAllowedCidrs"); p.read(key) {
		p.errs = append(p.errs, cidrList(key, cl.APIAllowedCIDRs,
			"the API would admit nobody but the gateway: Kapsule's access list replaces its open default rule, which locks the machine running `up` out of its own cluster")...)
	}
	if cl.index >= 0 && p.read(cl.Key("pools")) && len(cl.Pools) == 0 {
		p.add("%s is empty, so the cluster would have no node: list one pool at least, or remove it for one %q pool", cl.Key("pools"), DefaultPoolName)
	}
	ok = p.read(cl.Key("pools"))
	named := map[string]string{}
	for i, pool := range cl.Pools {
		n, sized := c.checkPool(p, cl, i, pool)
		nodes += n
		ok = ok && sized
		if key := cl.PoolKey(i, "name"); cl.index >= 0 && p.read(key) {
			switch {
			case !dnsLabel.MatchString(pool.Name):
				p.add("%s %q is not a pool name: use lowercase letters, digits and dashes, e.g. %q", key, pool.Name, DefaultPoolName)
			case named[pool.Name] != "":
				p.add("%s %q is also the name of %s: give each pool of a cluster its own name", key, pool.Name, named[pool.Name])
			default:
				named[pool.Name] = key
			}
		}
	}
	if len(cl.Pools) > 0 && !slices.ContainsFunc(cl.Pools, func(pl Pool) bool {
		return !slices.ContainsFunc(pl.Tags, func(t string) bool { return strings.HasPrefix(t, taintTag) })
	}) {
		p.add("%s has a %s tag on every pool, so the agent, Flux and the runner, which tolerate no taint, could run nowhere: leave one pool untainted", clusterLabel(cl), taintTag)
	}
	if ok && nodes > kapsuleMaxNodes {
		p.add("%s has up to %d nodes in its pools, more than the %d of a Kapsule cluster with the mutualized control plane this program creates: make its pools smaller", clusterLabel(cl), nodes, kapsuleMaxNodes)
	}
	return nodes, ok
}

// checkPool checks one pool and returns the most nodes it may have.
func (c *Config) checkPool(p *problems, cl Cluster, i int, pool Pool) (nodes int, ok bool) {
	if key := cl.PoolKey(i, "nodeType"); p.read(key) {
		checkNodeType(p, key, pool.NodeType)
	}
	sizeKey := cl.PoolKey(i, "size")
	if p.read(sizeKey) {
		ok = true
		switch {
		case pool.Size < 1 && pool.Autoscaling:
			// terraform-provider-scaleway k8s/pool.go validatePoolSize: a
			// mutualized cluster cannot have less than 1 node, and the
			// cluster's pools are created side by side.
			p.add("%s %d must be at least 1 node: Kapsule refuses a pool that starts empty beside pools still being created; let the autoscaler take it down", sizeKey, pool.Size)
			ok = false
		case pool.Size < 1:
			p.add("%s %d must be at least 1 node", sizeKey, pool.Size)
			ok = false
		case pool.Size > kapsuleMaxNodes:
			p.add("%s %d is more than the %d nodes of a Kapsule cluster with the mutualized control plane this program creates: use at most %d", sizeKey, pool.Size, kapsuleMaxNodes, kapsuleMaxNodes)
			ok = false
		}
	}
	if pool.Autoscaling {
		minKey, maxKey := cl.PoolKey(i, "autoscaling.min"), cl.PoolKey(i, "autoscaling.max")
		switch {
		case !p.read(minKey, maxKey):
			ok = false
		case pool.MaxSize < 1 || pool.MaxSize > kapsuleMaxNodes:
			p.add("%s %d must be from 1 to %d nodes", maxKey, pool.MaxSize, kapsuleMaxNodes)
			ok = false
		case pool.MinSize < 1 || pool.MinSize > pool.MaxSize:
			// 0 is not kept: the provider reads an unset min_size for it and
			// creates the pool with min 1 (pool.go, d.GetOk("min_size")), so the
			// next up would change it again; and a cluster autoscaled to no
			// node would lose its agent.
			p.add("%s %d must be from 1 to %s (%d)", minKey, pool.MinSize, maxKey, pool.MaxSize)
		case ok && (pool.Size < pool.MinSize || pool.Size > pool.MaxSize):
			p.add("%s %d must be from %s to %s (%d to %d), where the autoscaler keeps the pool; leave it out to start at the minimum", sizeKey, pool.Size, minKey, maxKey, pool.MinSize, pool.MaxSize)
		}
	}
	// The provider refuses less than 20 GB ("the minimal volume size of a
	// node is 20GB", terraform-provider-scaleway docs/resources/k8s_pool.md;
	// pool.go nodeMinVolumeSize); block volumes end at 10 TB.
	if key := cl.PoolKey(i, "rootVolumeSizeGb"); p.read(key) && pool.RootVolumeSizeGB != 0 && (pool.RootVolumeSizeGB < minNodeVolumeGB || pool.RootVolumeSizeGB > maxNodeVolumeGB) {
		p.add("%s %d must be from %d to %d GB, or left out for Kapsule's default", key, pool.RootVolumeSizeGB, minNodeVolumeGB, maxNodeVolumeGB)
	}
	if key := cl.PoolKey(i, "zone"); p.read(key) && pool.Zone != "" {
		if zones, known := poolZones[c.Region]; known && !slices.Contains(zones, pool.Zone) {
			p.add("%s %q is not a zone of scaleway:region %q, whose private network the cluster joins: use one of %s, or leave it out for scaleway:zone", key, pool.Zone, c.Region, strings.Join(zones, ", "))
		}
	}
	for j, tag := range pool.Tags {
		if strings.TrimSpace(tag) == "" {
			p.add("%s[%d] is empty: remove it", cl.PoolKey(i, "tags"), j)
		}
	}
	return pool.MaxNodes(), ok
}

// clusterLabel names a cluster in messages that concern it as a whole.
func clusterLabel(cl Cluster) string {
	if cl.index < 0 {
		return "kapsule:size"
	}
	return fmt.Sprintf("%s[%d] (%q)", ClustersKey, cl.index, cl.Name)
}

// checkCapacity makes sure the private network has room for everything that
// joins it: Scaleway keeps the first two and last two addresses, the gateway
// and GitLab take one each, and every Kapsule node of every cluster takes
// one, twice over during a rolling upgrade (one surge node per node at most).
func (c *Config) checkCapacity(p *problems, pn netip.Prefix, nodes int) {
	usable := 1<<(32-pn.Bits()) - 4
	need := 2 + 2*nodes
	if usable >= need {
		return
	}
	bits := 32
	for 1<<(32-bits) < need+4 {
		bits--
	}
	p.add("network:cidr %q is too small: it leaves %d usable addresses and the gateway, GitLab and %d Kapsule nodes (with upgrade surge) need %d: use a /%d or larger, such as %s",
		c.Network.CIDR, usable, nodes, need, bits, netip.PrefixFrom(pn.Addr(), bits).Masked())
}

// checkNodeType checks a pool's node type (key names it) against the
// Kapsule node types.
func checkNodeType(p *problems, key, t string) {
	upper := strings.ToUpper(strings.ReplaceAll(t, "_", "-"))
	_, known := instanceSizes[upper]
	switch {
	case t == "":
		p.add("%s is empty: set a Kapsule node type such as %s", key, Defaults().Kapsule.NodeType)
	case slices.Contains(kapsuleIneligible, upper):
		p.add("%s %q has too little memory for a Kapsule node (Kapsule refuses %s): use e.g. %s", key, t, strings.Join(kapsuleIneligible, ", "), Defaults().Kapsule.NodeType)
	case known && upper != t:
		p.add("%s %q must be written %q: upper case, with dashes (Scaleway treats both the same, so the pool is not replaced)", key, t, upper)
	case !known:
		p.add("%s %q is not a Kapsule node type this program knows: use an Instance type such as %s, PRO2-XS or POP2-2C-8G (`scw instance server-type list`)", key, t, Defaults().Kapsule.NodeType)
	}
}

package config

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// zonesByRegion lists the Scaleway regions where Public Gateways, Instances
// and Kapsule are all offered, with their availability zones.
var zonesByRegion = map[string][]string{
	"fr-par": {"fr-par-1", "fr-par-2", "fr-par-3"},
	"nl-ams": {"nl-ams-1", "nl-ams-2", "nl-ams-3"},
	"pl-waw": {"pl-waw-1", "pl-waw-2", "pl-waw-3"},
}

// instanceSize is an instance type's vCPUs and memory in GB.
type instanceSize struct{ vcpu, memGB int }

// instanceSizes are the Scaleway instance types the program knows the size
// of; GitLab needs at least gitLabMin of them.
var instanceSizes = map[string]instanceSize{
	"DEV1-S": {2, 2}, "DEV1-M": {3, 4}, "DEV1-L": {4, 8}, "DEV1-XL": {4, 12},
	"PLAY2-PICO": {1, 2}, "PLAY2-NANO": {2, 4}, "PLAY2-MICRO": {4, 8},
	"PRO2-XXS": {2, 8}, "PRO2-XS": {4, 16}, "PRO2-S": {8, 32}, "PRO2-M": {16, 64},
	"POP2-2C-8G": {2, 8}, "POP2-4C-16G": {4, 16}, "POP2-8C-32G": {8, 32},
	"POP2-HC-2C-4G": {2, 4}, "POP2-HC-4C-8G": {4, 8}, "POP2-HC-8C-16G": {8, 16},
	"GP1-XS": {4, 16}, "GP1-S": {8, 32}, "GP1-M": {16, 64},
}

// gitLabMin is GitLab's documented minimum for a single node (about 20 RPS).
var gitLabMin = instanceSize{vcpu: 4, memGB: 8}

var (
	fullVersion   = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	gitLabVersion = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)-(ce|ee)\.(\d+)$`)
	// kapsuleServices and kapsulePods are Kapsule's default service and pod
	// ranges: a private network overlapping them breaks routing in the cluster.
	kapsuleServices = netip.MustParsePrefix("10.32.0.0/20")
	kapsulePods     = netip.MustParsePrefix("100.64.0.0/15")
	privateRanges   = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
	}
)

// Validate checks every value and fills the ones derived from others
// (gitlabHost:privateIp). It reports all problems at once, each naming the
// key and the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	zones, ok := zonesByRegion[c.Region]
	switch {
	case !ok:
		bad("scaleway:region %q is not a region with Kapsule and Public Gateways: use one of %s", c.Region, strings.Join(sortedKeys(zonesByRegion), ", "))
	case !slices.Contains(zones, c.Zone):
		bad("scaleway:zone %q is not in scaleway:region %q: use one of %s", c.Zone, c.Region, strings.Join(zones, ", "))
	}

	pn, err := c.validateCIDR()
	if err != nil {
		errs = append(errs, err)
	}
	if p := c.Network.BastionPort; p != 61000 && (p < 1024 || p > 59999) {
		bad("network:bastionPort %d is not allowed: use 61000 (the default) or a port from 1024 to 59999", p)
	}
	if len(c.Network.AllowedIPRanges) == 0 {
		bad("network:allowedIpRanges is empty, so nobody could reach the SSH bastion: list the CIDRs of the operators and of this program's host, e.g. [\"198.51.100.7/32\"]")
	}
	errs = append(errs, cidrList("network:allowedIpRanges", c.Network.AllowedIPRanges)...)
	if k := c.Network.SSHPublicKey; k != "" {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			bad("network:sshPublicKey does not parse as an OpenSSH public key (%v): set it to the one line of your ~/.ssh/id_ed25519.pub", err)
		}
	}

	errs = append(errs, c.validateGitLab(pn)...)

	if !fullVersion.MatchString(c.Kapsule.Version) {
		bad("kapsule:version %q must be a full version such as \"1.34.1\" (auto-upgrade is off): list them with `scw k8s version list`", c.Kapsule.Version)
	}
	if cni := c.Kapsule.CNI; !slices.Contains([]string{"cilium", "calico", "cilium_native"}, cni) {
		bad("kapsule:cni %q is not a Kapsule CNI: use cilium (the default), calico or cilium_native", cni)
	}
	if c.Kapsule.NodeType == "" {
		bad("kapsule:nodeType is empty: set a Kapsule node type such as PRO2-XXS")
	}
	if c.Kapsule.Size < 1 {
		bad("kapsule:size %d must be at least 1 node", c.Kapsule.Size)
	}
	errs = append(errs, cidrList("kapsule:apiAllowedCidrs", c.Kapsule.APIAllowedCIDRs)...)
	if pn.IsValid() {
		errs = append(errs, c.checkCapacity(pn)...)
	}
	errs = append(errs, c.validateAgent()...)
	errs = append(errs, c.validateGitOps()...)
	return errors.Join(errs...)
}

func (c *Config) validateCIDR() (netip.Prefix, error) {
	pn, err := netip.ParsePrefix(c.Network.CIDR)
	switch {
	case err != nil || !pn.Addr().Is4():
		return netip.Prefix{}, fmt.Errorf("network:cidr %q is not an IPv4 CIDR: use a private range such as 10.0.0.0/24", c.Network.CIDR)
	case pn.Masked() != pn:
		return netip.Prefix{}, fmt.Errorf("network:cidr %q has host bits set: use %s", c.Network.CIDR, pn.Masked())
	case !slices.ContainsFunc(privateRanges, func(r netip.Prefix) bool { return r.Bits() <= pn.Bits() && r.Contains(pn.Addr()) }):
		return netip.Prefix{}, fmt.Errorf("network:cidr %q is not a private (RFC 1918) range: use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16", c.Network.CIDR)
	case pn.Overlaps(kapsuleServices) || pn.Overlaps(kapsulePods):
		return netip.Prefix{}, fmt.Errorf("network:cidr %q overlaps Kapsule's service range %s or pod range %s: choose another range, such as 10.0.0.0/24", c.Network.CIDR, kapsuleServices, kapsulePods)
	case pn.Bits() < 16:
		return netip.Prefix{}, fmt.Errorf("network:cidr %q is larger than a /16: use a smaller range, such as 10.0.0.0/24", c.Network.CIDR)
	}
	return pn, nil
}

// checkCapacity makes sure the private network has room for everything that
// joins it: Scaleway keeps the first two and last two addresses, the gateway
// and GitLab take one each, and every Kapsule node takes one, twice over
// during a rolling upgrade (one surge node per node at most).
func (c *Config) checkCapacity(pn netip.Prefix) []error {
	usable := 1<<(32-pn.Bits()) - 4
	need := 2 + 2*max(c.Kapsule.Size, 1)
	if usable < need {
		return []error{fmt.Errorf("network:cidr %q is too small: it leaves %d usable addresses and the gateway, GitLab and %d Kapsule nodes (with upgrade surge) need %d: use a larger range, such as a /24", c.Network.CIDR, usable, c.Kapsule.Size, need)}
	}
	return nil
}

func (c *Config) validateGitLab(pn netip.Prefix) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	g := &c.GitLab

	size, known := instanceSizes[g.InstanceType]
	switch {
	case !known:
		bad("gitlabHost:instanceType %q is not a type this program knows the size of: use one with at least %d vCPU and %d GB, e.g. %s", g.InstanceType, gitLabMin.vcpu, gitLabMin.memGB, strings.Join(bigEnough(), ", "))
	case size.vcpu < gitLabMin.vcpu || size.memGB < gitLabMin.memGB:
		bad("gitlabHost:instanceType %q has %d vCPU and %d GB, below GitLab's minimum of %d vCPU and %d GB: use e.g. %s", g.InstanceType, size.vcpu, size.memGB, gitLabMin.vcpu, gitLabMin.memGB, strings.Join(bigEnough(), ", "))
	}
	if !slices.Contains([]string{"ubuntu_jammy", "ubuntu_noble"}, g.Image) {
		bad("gitlabHost:image %q is not an Ubuntu release GitLab packages: use ubuntu_noble or ubuntu_jammy", g.Image)
	}
	if g.Edition != "ce" && g.Edition != "ee" {
		bad("gitlabHost:edition %q must be ce or ee", g.Edition)
	}
	if m := gitLabVersion.FindStringSubmatch(g.Version); m == nil {
		bad("gitlabHost:version %q is not an Omnibus package version such as \"18.5.1-ce.0\"", g.Version)
	} else {
		if major, _ := strconv.Atoi(m[1]); major < 17 {
			bad("gitlabHost:version %q is older than 17.0, which the agent and Flux integration need: use 17.0 or later", g.Version)
		}
		if m[4] != g.Edition {
			bad("gitlabHost:version %q is a %s package but gitlabHost:edition is %q: make them agree", g.Version, m[4], g.Edition)
		}
	}
	if g.DiskSizeGB < 20 {
		bad("gitlabHost:diskSizeGb %d is too small for GitLab's packages and data: use at least 20", g.DiskSizeGB)
	}
	if p := g.RootPassword; p != "" && len([]rune(p)) < 8 {
		bad("gitlabHost:rootPassword is shorter than GitLab's minimum of 8 characters: `pulumi config set --secret gitlabHost:rootPassword ...` with a longer one, or remove it to have one generated")
	}
	if pn.IsValid() {
		errs = append(errs, c.validatePrivateIP(pn)...)
	}
	return errs
}

// validatePrivateIP defaults GitLab's address to the network's tenth address
// and checks a configured one.
func (c *Config) validatePrivateIP(pn netip.Prefix) []error {
	first := pn.Addr()
	last := lastAddr(pn)
	if c.GitLab.PrivateIP == "" {
		a := first
		for range 10 {
			a = a.Next()
		}
		if !pn.Contains(a) || a.Compare(last.Prev()) >= 0 {
			a = first.Next().Next()
		}
		c.GitLab.PrivateIP = a.String()
		return nil
	}
	ip, err := netip.ParseAddr(c.GitLab.PrivateIP)
	switch {
	case err != nil:
		return []error{fmt.Errorf("gitlabHost:privateIp %q is not an IPv4 address", c.GitLab.PrivateIP)}
	case !pn.Contains(ip):
		return []error{fmt.Errorf("gitlabHost:privateIp %s is outside network:cidr %s: pick an address inside it, or unset it for the default", ip, pn)}
	case ip.Compare(first.Next()) <= 0 || ip.Compare(last.Prev()) >= 0:
		return []error{fmt.Errorf("gitlabHost:privateIp %s is one of the first two or last two addresses of %s, which Scaleway keeps: pick another", ip, pn)}
	}
	return nil
}

func cidrList(key string, cidrs []string) []error {
	var errs []error
	for i, s := range cidrs {
		if p, err := netip.ParsePrefix(s); err != nil || !p.Addr().Is4() {
			errs = append(errs, fmt.Errorf("%s[%d] %q is not an IPv4 CIDR: write it as 198.51.100.7/32", key, i, s))
		}
	}
	return errs
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func bigEnough() []string {
	var names []string
	for n, s := range instanceSizes {
		if s.vcpu >= gitLabMin.vcpu && s.memGB >= gitLabMin.memGB {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

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

// zonesByRegion lists the Scaleway regions where Kapsule, Public Gateways and
// Instances are all offered, with the zones that have both Public Gateways
// and Instances. Sources: scaleway-sdk-go (generated from Scaleway's API
// specifications, as of August 2026) k8s/v1 API.Regions() = fr-par, nl-ams,
// pl-waw, it-mil; vpcgw/v2 API.Zones() = fr-par-1, fr-par-2, it-mil-1,
// nl-ams-1..3, pl-waw-1..3; instance/v1 API.Zones() adds fr-par-3, which has
// no Public Gateway (also "Public Gateways: PAR1, PAR2" in Scaleway's product
// availability guide, docs-content pages/account/reference-content/
// products-availability.mdx, validated 2025-12-04, which predates Milan).
var zonesByRegion = map[string][]string{
	"fr-par": {"fr-par-1", "fr-par-2"},
	"it-mil": {"it-mil-1"},
	"nl-ams": {"nl-ams-1", "nl-ams-2", "nl-ams-3"},
	"pl-waw": {"pl-waw-1", "pl-waw-2", "pl-waw-3"},
}

// instanceSize is an instance type's vCPUs and memory in GB.
type instanceSize struct{ vcpu, memGB int }

// instanceSizes are the x86-64 CPU Instance types (Windows and GPU types
// left out) and their sizes, as Scaleway's public product catalog lists them
// (product-catalog/v2alpha1 public-catalog/products for fr-par-1, recorded in
// scaleway/scaleway-cli internal/namespaces/instance/v1/testdata/
// test-server-type-list-on-fr-par1.cassette.yaml, July 2026). Which zones
// offer each type is left to the preflight.
var instanceSizes = map[string]instanceSize{
	"BASIC3-X2C-4G": {2, 4}, "BASIC3-X2C-8G": {2, 8}, "BASIC3-X4C-8G": {4, 8}, "BASIC3-X4C-16G": {4, 16},
	"BASIC3-X8C-16G": {8, 16}, "BASIC3-X8C-32G": {8, 32}, "BASIC3-X16C-32G": {16, 32}, "BASIC3-X16C-64G": {16, 64},
	"COMPUTE3-X2C-4G": {2, 4}, "COMPUTE3-X4C-8G": {4, 8}, "COMPUTE3-X8C-16G": {8, 16}, "COMPUTE3-X16C-32G": {16, 32},
	"COMPUTE3-X32C-64G": {32, 64}, "COMPUTE3-X48C-96G": {48, 96}, "COMPUTE3-X64C-128G": {64, 128}, "COMPUTE3-X96C-192G": {96, 192},
	"DEV1-S": {2, 2}, "DEV1-M": {3, 4}, "DEV1-L": {4, 8}, "DEV1-XL": {4, 12},
	"GP1-XS": {4, 16}, "GP1-S": {8, 32}, "GP1-M": {16, 64}, "GP1-L": {32, 128}, "GP1-XL": {48, 256},
	"MEMORY3-X2C-16G": {2, 16}, "MEMORY3-X4C-32G": {4, 32}, "MEMORY3-X8C-64G": {8, 64}, "MEMORY3-X16C-128G": {16, 128},
	"MEMORY3-X32C-256G": {32, 256}, "MEMORY3-X48C-384G": {48, 384},
	"PLAY2-PICO": {1, 2}, "PLAY2-NANO": {2, 4}, "PLAY2-MICRO": {4, 8},
	"POP2-2C-8G": {2, 8}, "POP2-4C-16G": {4, 16}, "POP2-8C-32G": {8, 32}, "POP2-16C-64G": {16, 64},
	"POP2-32C-128G": {32, 128}, "POP2-48C-192G": {48, 192}, "POP2-64C-256G": {64, 256},
	"POP2-HC-2C-4G": {2, 4}, "POP2-HC-4C-8G": {4, 8}, "POP2-HC-8C-16G": {8, 16}, "POP2-HC-16C-32G": {16, 32},
	"POP2-HC-32C-64G": {32, 64}, "POP2-HC-48C-96G": {48, 96}, "POP2-HC-64C-128G": {64, 128},
	"POP2-HM-2C-16G": {2, 16}, "POP2-HM-4C-32G": {4, 32}, "POP2-HM-8C-64G": {8, 64}, "POP2-HM-16C-128G": {16, 128},
	"POP2-HM-32C-256G": {32, 256}, "POP2-HM-48C-384G": {48, 384}, "POP2-HM-64C-512G": {64, 512},
	"POP2-HN-3": {2, 4}, "POP2-HN-5": {4, 8}, "POP2-HN-10": {4, 8},
	"PRO2-XXS": {2, 8}, "PRO2-XS": {4, 16}, "PRO2-S": {8, 32}, "PRO2-M": {16, 64}, "PRO2-L": {32, 128},
	"STANDARD3-X2C-8G": {2, 8}, "STANDARD3-X4C-16G": {4, 16}, "STANDARD3-X8C-32G": {8, 32}, "STANDARD3-X16C-64G": {16, 64},
	"STANDARD3-X32C-128G": {32, 128}, "STANDARD3-X48C-192G": {48, 192}, "STANDARD3-X64C-256G": {64, 256},
	"STARDUST1-S": {1, 1},
}

// kapsuleIneligible are the Instance types Kapsule refuses as nodes for too
// little memory: "Nodes with insufficient memory are not eligible (DEV1-S,
// PLAY2-PICO, STARDUST)" (Kapsule API, CreatePoolRequest.node_type;
// scaleway-sdk-go api/k8s/v1/k8s_sdk.go). Every other Instance type of
// instanceSizes is a Kapsule node type.
var kapsuleIneligible = []string{"DEV1-S", "PLAY2-PICO", "STARDUST1-S"}

// kapsuleMaxNodes caps kapsule:size: the program's cluster has Kapsule's
// default, mutualized control plane, whose "Max cluster size" is 150 nodes
// (docs-content pages/kubernetes/reference-content/
// kubernetes-control-plane-offers.mdx, validated 2025-02-24; the dedicated
// control planes allow 250 and 500).
const kapsuleMaxNodes = 150

// gitLabMin is GitLab's documented minimum for a single node (about 20 RPS).
var gitLabMin = instanceSize{vcpu: 4, memGB: 8}

// gitLabMinMajor is the oldest GitLab major release the agent and Flux
// integration work with.
const gitLabMinMajor = 17

var (
	// kapsuleVersion is a minor ("1.36": Scaleway applies its patches) or a
	// full version ("1.36.1": pinned, auto-upgrade off).
	kapsuleVersion = regexp.MustCompile(`^1\.\d+(\.\d+)?$`)
	gitLabVersion  = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)-(ce|ee)\.(\d+)$`)
	privateRanges  = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
	}
	// documentationRanges are RFC 5737's TEST-NET-1, -2 and -3: reserved for
	// examples, nobody's address is in them.
	documentationRanges = []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
	}
)

// ReservedRange is a range that something joining the private network keeps
// for itself, so network:cidr must not overlap it. The component that owns
// the fact declares it (components.KapsuleReservedRanges) and the program
// hands it to Load.
type ReservedRange struct {
	// Name says whose range it is, e.g. "Kapsule's service range".
	Name string
	// Prefix is the range.
	Prefix netip.Prefix
}

// Validate checks every value; it reports all problems at once, each naming
// the key and the fix. It fills in nothing: Load derives the values that
// follow from others before it validates.
func (c *Config) Validate(reserved ...ReservedRange) error {
	return errors.Join(c.problems(nil, reserved)...)
}

// problems are Validate's findings. unread are the keys the reader could not
// read: their checks are skipped, since the values are only the defaults.
func (c *Config) problems(unread map[string]bool, reserved []ReservedRange) []error {
	p := &problems{unread: unread, reserved: reserved}
	c.checkLocation(p)
	pn := c.checkNetwork(p)
	c.checkGitLab(p, pn)
	c.checkClusters(p, pn)
	c.checkAgent(p)
	c.checkRunner(p)
	c.checkBackup(p)
	c.checkGitOps(p)
	return p.errs
}

// problems collects the findings of the checks.
type problems struct {
	unread   map[string]bool
	reserved []ReservedRange
	errs     []error
}

func (p *problems) add(format string, a ...any) { p.errs = append(p.errs, fmt.Errorf(format, a...)) }

// listOf checks a list key whose items must each match valid (bad says
// why one does not, and the fix) and appear once.
func (p *problems) listOf(key string, items []string, valid *regexp.Regexp, bad string) {
	if !p.read(key) {
		return
	}
	seen := map[string]bool{}
	for i, item := range items {
		switch {
		case !valid.MatchString(item):
			p.add("%s[%d] %q %s", key, i, item, bad)
		case seen[item]:
			p.add("%s[%d] %q is listed twice: remove one", key, i, item)
		}
		seen[item] = true
	}
}

// read reports whether every one of keys was read, so its checks apply.
func (p *problems) read(keys ...string) bool {
	return !slices.ContainsFunc(keys, func(k string) bool { return p.unread[k] })
}

func (c *Config) checkLocation(p *problems) {
	zones, ok := zonesByRegion[c.Region]
	switch {
	case !ok:
		p.add("scaleway:region %q is not a region with Kapsule, Public Gateways and Instances: use one of %s", c.Region, strings.Join(sortedKeys(zonesByRegion), ", "))
	case !slices.Contains(zones, c.Zone):
		p.add("scaleway:zone %q is not a zone of scaleway:region %q with Public Gateways and Instances: use one of %s", c.Zone, c.Region, strings.Join(zones, ", "))
	}
}

// checkNetwork checks the network group and returns the private network's
// prefix, invalid if network:cidr is wrong.
func (c *Config) checkNetwork(p *problems) netip.Prefix {
	pn, err := c.validateCIDR(p.reserved)
	if err != nil {
		p.errs = append(p.errs, err)
	}
	if bp := c.Network.BastionPort; p.read("network:bastionPort") && bp != 61000 && (bp < 1024 || bp > 59999) {
		p.add("network:bastionPort %d is not allowed: use 61000 (the default) or a port from 1024 to 59999", bp)
	}
	if p.read("network:allowedIpRanges") {
		if len(c.Network.AllowedIPRanges) == 0 {
			p.add("network:allowedIpRanges is empty, so nobody could reach the SSH bastion: list the CIDRs of the operators and of this program's host, e.g. [\"<your-ip>/32\"]")
		}
		p.errs = append(p.errs, cidrList("network:allowedIpRanges", c.Network.AllowedIPRanges,
			"the bastion would admit nobody")...)
	}
	if k := c.Network.SSHPublicKey; k != "" {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			p.add("network:sshPublicKey does not parse as an OpenSSH public key (%v): set it to the one line of your ~/.ssh/id_ed25519.pub", err)
		}
	}
	return pn
}

func (c *Config) validateCIDR(reserved []ReservedRange) (netip.Prefix, error) {
	pn, err := netip.ParsePrefix(c.Network.CIDR)
	switch {
	case err != nil || !pn.Addr().Is4():
		return netip.Prefix{}, fmt.Errorf("network:cidr %q is not an IPv4 CIDR: use a private range such as 10.0.0.0/24", c.Network.CIDR)
	case pn.Masked() != pn:
		return netip.Prefix{}, fmt.Errorf("network:cidr %q has host bits set: use %s", c.Network.CIDR, pn.Masked())
	case !slices.ContainsFunc(privateRanges, func(r netip.Prefix) bool { return r.Bits() <= pn.Bits() && r.Contains(pn.Addr()) }):
		return netip.Prefix{}, fmt.Errorf("network:cidr %q is not a private (RFC 1918) range: use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16", c.Network.CIDR)
	case pn.Bits() < 16:
		return netip.Prefix{}, fmt.Errorf("network:cidr %q is larger than a /16: use a smaller range, such as 10.0.0.0/24", c.Network.CIDR)
	}
	for _, r := range reserved {
		if pn.Overlaps(r.Prefix) {
			return netip.Prefix{}, fmt.Errorf("network:cidr %q overlaps %s %s, which routing in the cluster needs: choose another range, such as 10.0.0.0/24", c.Network.CIDR, r.Name, r.Prefix)
		}
	}
	return pn, nil
}

// The data volume's bounds: GitLab's repositories, database and the
// backups staged before upload need room; SBS volumes go up to 10 TB.
const (
	minDataVolumeGB = 20
	maxDataVolumeGB = 10000
)

func (c *Config) checkGitLab(p *problems, pn netip.Prefix) {
	g := &c.GitLab

	size, known := instanceSizes[g.InstanceType]
	switch {
	case !known:
		p.add("gitlabHost:instanceType %q is not a type this program knows the size of: use one with at least %d vCPU and %d GB, e.g. %s", g.InstanceType, gitLabMin.vcpu, gitLabMin.memGB, strings.Join(bigEnough(), ", "))
	case size.vcpu < gitLabMin.vcpu || size.memGB < gitLabMin.memGB:
		p.add("gitlabHost:instanceType %q has %d vCPU and %d GB, below GitLab's minimum of %d vCPU and %d GB: use e.g. %s", g.InstanceType, size.vcpu, size.memGB, gitLabMin.vcpu, gitLabMin.memGB, strings.Join(bigEnough(), ", "))
	}
	if !slices.Contains([]string{"ubuntu_jammy", "ubuntu_noble"}, g.Image) {
		p.add("gitlabHost:image %q is not an Ubuntu release GitLab packages: use ubuntu_noble or ubuntu_jammy", g.Image)
	}
	edition := g.Edition
	if edition != "ce" && edition != "ee" {
		p.add("gitlabHost:edition %q must be ce or ee", g.Edition)
		edition = Defaults().GitLab.Edition
	}
	// example is the default version in the configured edition: a value
	// that passes every check below.
	example := strings.Replace(Defaults().GitLab.Version, "-"+Defaults().GitLab.Edition+".", "-"+edition+".", 1)
	if m := gitLabVersion.FindStringSubmatch(g.Version); m == nil {
		p.add("gitlabHost:version %q is not an Omnibus package version such as %q", g.Version, example)
	} else {
		if major, _ := strconv.Atoi(m[1]); major < gitLabMinMajor {
			p.add("gitlabHost:version %q is older than %d.0, which the agent and Flux integration need: use %d.0.0-%s.0 or later, e.g. %q", g.Version, gitLabMinMajor, gitLabMinMajor, edition, example)
		}
		if m[4] != g.Edition {
			p.add("gitlabHost:version %q is a %s package but gitlabHost:edition is %q: make them agree", g.Version, m[4], g.Edition)
		}
	}
	if p.read("gitlabHost:diskSizeGb") && g.DiskSizeGB < 20 {
		p.add("gitlabHost:diskSizeGb %d is too small for GitLab's packages and data: use at least 20", g.DiskSizeGB)
	}
	// SBS volumes take from 1 GB up; GitLab's own minimum for repositories
	// and its database is well above that (GitLab docs install/requirements.md).
	if n := g.DataVolumeSizeGB; p.read("gitlabHost:dataVolumeSizeGb") && (n < minDataVolumeGB || n > maxDataVolumeGB) {
		p.add("gitlabHost:dataVolumeSizeGb %d must be from %d to %d GB (it may grow later, never shrink)", n, minDataVolumeGB, maxDataVolumeGB)
	}
	if pw := g.RootPassword; p.read("gitlabHost:rootPassword") && pw != "" && len([]rune(pw)) < 8 {
		p.add("gitlabHost:rootPassword is shorter than GitLab's minimum of 8 characters: `pulumi config set --secret gitlabHost:rootPassword` with a longer one, or remove it to have one generated")
	}
	if pn.IsValid() && g.PrivateIP != "" {
		p.errs = append(p.errs, c.validatePrivateIP(pn)...)
	}
}

// gitLabRelease returns GitLab's major, minor and patch release when
// gitlabHost:version is one the program accepts, for the checks that depend
// on it: their advice would be wrong while the version itself is.
func (c *Config) gitLabRelease() (major, minor, patch int, ok bool) {
	m := gitLabVersion.FindStringSubmatch(c.GitLab.Version)
	if m == nil {
		return 0, 0, 0, false
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	patch, _ = strconv.Atoi(m[3])
	return major, minor, patch, major >= gitLabMinMajor
}

// validatePrivateIP checks a configured or derived GitLab address.
func (c *Config) validatePrivateIP(pn netip.Prefix) []error {
	first := pn.Addr()
	last := lastAddr(pn)
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

// cidrList checks a list of IPv4 CIDRs that admit people; harm says what a
// documentation range in it would do.
func cidrList(key string, cidrs []string, harm string) []error {
	var errs []error
	for i, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil || !p.Addr().Is4():
			errs = append(errs, fmt.Errorf("%s[%d] %q is not an IPv4 CIDR: write it as <your-ip>/32, your public address followed by /32, or as a range in CIDR notation", key, i, s))
		case p.Masked() != p:
			errs = append(errs, fmt.Errorf("%s[%d] %q has host bits set: use %s, or %s/32 for that one address", key, i, s, p.Masked(), p.Addr()))
		case slices.ContainsFunc(documentationRanges, func(d netip.Prefix) bool { return d.Bits() <= p.Bits() && d.Contains(p.Addr()) }):
			errs = append(errs, fmt.Errorf("%s[%d] %q is a documentation range (RFC 5737): nobody's address is in it, so %s: put your own public address /32 (<your-ip>/32) instead", key, i, s, harm))
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

// bigEnough suggests GitLab host types: the default first, then the
// smallest others that meet GitLab's minimum.
func bigEnough() []string {
	def := Defaults().GitLab.InstanceType
	var names []string
	for n, s := range instanceSizes {
		if n != def && s.vcpu >= gitLabMin.vcpu && s.memGB >= gitLabMin.memGB {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		sa, sb := instanceSizes[a], instanceSizes[b]
		if d := (sa.vcpu*1000 + sa.memGB) - (sb.vcpu*1000 + sb.memGB); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return append([]string{def}, names[:min(4, len(names))]...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

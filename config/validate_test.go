package config

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGr6yqJ3+7sS0dC2m6hKYxA4nYqkq9d0m6Qm9ZzXqW3j operator@example"

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	c := Defaults()
	require.NoError(t, c.Validate())
	assert.Empty(t, c.GitLab.PrivateIP, "Validate checks and fills in nothing")
	c.derive()
	require.NoError(t, c.Validate())
	assert.Equal(t, "10.0.0.10", c.GitLab.PrivateIP, "GitLab's address defaults to the tenth of the network")
}

func TestDeriveFillsGitLabAddress(t *testing.T) {
	t.Parallel()
	tests := []struct{ cidr, set, want string }{
		{"10.0.0.0/24", "", "10.0.0.10"},
		{"192.168.10.0/26", "", "192.168.10.10"},
		{"10.0.0.0/28", "", "10.0.0.10"},
		{"10.0.0.0/29", "", "10.0.0.2"},           // the tenth is outside: the third
		{"10.0.0.0/24", "10.0.0.20", "10.0.0.20"}, // a configured one stays
		{"nonsense", "", ""},                      // Validate reports network:cidr
		{"10.0.0.5/24", "", ""},                   // host bits: likewise
	}
	for _, tt := range tests {
		c := Defaults()
		c.Network.CIDR, c.GitLab.PrivateIP = tt.cidr, tt.set
		c.derive()
		assert.Equal(t, tt.want, c.GitLab.PrivateIP, tt.cidr)
	}
}

// reservedForTests stands for the ranges a component declares
// (components.KapsuleReservedRanges, which config cannot import): stack's
// TestNetworkMustLeaveKapsulesRangesAlone checks the real ones.
var reservedForTests = []ReservedRange{{Name: "Kapsule's service range", Prefix: netip.MustParsePrefix("10.32.0.0/20")}}

func TestValidateNamesKeyAndFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // every fragment must appear in the error
	}{
		{"bad cidr", func(c *Config) { c.Network.CIDR = "10.0.0.300/24" }, []string{"network:cidr", "not an IPv4 CIDR"}},
		{"host bits", func(c *Config) { c.Network.CIDR = "10.0.0.5/24" }, []string{"network:cidr", "use 10.0.0.0/24"}},
		{"public cidr", func(c *Config) { c.Network.CIDR = "8.8.8.0/24" }, []string{"network:cidr", "RFC 1918"}},
		{"overlaps kapsule services", func(c *Config) { c.Network.CIDR = "10.32.0.0/24" }, []string{"network:cidr", "service range 10.32.0.0/20"}},
		{"too small for kapsule", func(c *Config) { c.Network.CIDR = "10.0.0.0/29"; c.GitLab.PrivateIP = "10.0.0.2" }, []string{"network:cidr", "too small", "need 6", "use a /28 or larger, such as 10.0.0.0/28"}},
		{"too small for many nodes", func(c *Config) { c.Network.CIDR = "10.0.0.0/27"; c.Kapsule.Size = 20 }, []string{"network:cidr", "too small", "20 Kapsule nodes", "use a /26 or larger, such as 10.0.0.0/26"}},
		{"a /24 too small suggests a /23", func(c *Config) { c.Kapsule.Size = 150 }, []string{"network:cidr", "need 302", "use a /23 or larger, such as 10.0.0.0/23"}},
		{"ssh key does not parse", func(c *Config) { c.Network.SSHPublicKey = "ssh-ed25519 not-base64" }, []string{"network:sshPublicKey", "id_ed25519.pub"}},
		{"short password", func(c *Config) { c.GitLab.RootPassword = "short" }, []string{"gitlabHost:rootPassword", "8 characters"}},
		{"unknown region", func(c *Config) { c.Region = "us-east" }, []string{"scaleway:region", "fr-par, it-mil, nl-ams, pl-waw"}},
		{"zone outside region", func(c *Config) { c.Zone = "nl-ams-1" }, []string{"scaleway:zone", "use one of fr-par-1, fr-par-2"}},
		{"zone without public gateways", func(c *Config) { c.Zone = "fr-par-3" }, []string{"scaleway:zone", `"fr-par-3"`, "Public Gateways"}},
		{"instance below minimum", func(c *Config) { c.GitLab.InstanceType = "DEV1-M" }, []string{"gitlabHost:instanceType", "3 vCPU and 4 GB", "minimum of 4 vCPU and 8 GB"}},
		{"instance 2 vCPU 8 GB", func(c *Config) { c.GitLab.InstanceType = "PRO2-XXS" }, []string{"gitlabHost:instanceType", "2 vCPU"}},
		{"unknown instance", func(c *Config) { c.GitLab.InstanceType = "XL-42" }, []string{"gitlabHost:instanceType", "PRO2-XS"}},
		{"image", func(c *Config) { c.GitLab.Image = "debian_bookworm" }, []string{"gitlabHost:image", "ubuntu_noble"}},
		{"jammy's curl cannot sign backups", func(c *Config) { c.GitLab.Image = "ubuntu_jammy" }, []string{"gitlabHost:image ubuntu_jammy", "curl 7.81", "backup:enabled false"}},
		{"backup schedule", func(c *Config) { c.Backup.Schedule = "daily'; rm -rf /" }, []string{"backup:schedule", "systemd calendar expression"}},
		{"backup retention", func(c *Config) { c.Backup.RetentionDays = 0 }, []string{"backup:retentionDays", "from 1 to 3650"}},
		{"data volume too small", func(c *Config) { c.GitLab.DataVolumeSizeGB = 10 }, []string{"gitlabHost:dataVolumeSizeGb", "from 20 to 10000"}},
		{"gitlab version format", func(c *Config) { c.GitLab.Version = "latest" }, []string{"gitlabHost:version", "18.5.2-ce.0"}},
		{"gitlab version format ee", func(c *Config) { c.GitLab.Edition = "ee"; c.GitLab.Version = "18.5" }, []string{"gitlabHost:version", `such as "18.5.2-ee.0"`}},
		{"gitlab too old", func(c *Config) { c.GitLab.Version = "16.11.2-ce.0" }, []string{"gitlabHost:version", "older than 17.0", `17.0.0-ce.0 or later, e.g. "18.5.2-ce.0"`}},
		{"edition mismatch", func(c *Config) { c.GitLab.Version = "18.5.1-ee.0" }, []string{"gitlabHost:version", "gitlabHost:edition"}},
		{"ip outside cidr", func(c *Config) { c.GitLab.PrivateIP = "10.1.0.10" }, []string{"gitlabHost:privateIp", "outside network:cidr"}},
		{"ip reserved", func(c *Config) { c.GitLab.PrivateIP = "10.0.0.1" }, []string{"gitlabHost:privateIp", "Scaleway keeps"}},
		{"disk", func(c *Config) { c.GitLab.DiskSizeGB = 10 }, []string{"gitlabHost:diskSizeGb", "at least 20"}},
		{"kapsule version", func(c *Config) { c.Kapsule.Version = "1.36.x" }, []string{"kapsule:version", "minor", "full version", "preflight", "scw k8s version list"}},
		{"kapsule version 2.0", func(c *Config) { c.Kapsule.Version = "2.0" }, []string{"kapsule:version", "not a Kubernetes version"}},
		{"kapsule cni", func(c *Config) { c.Kapsule.CNI = "kilo" }, []string{"kapsule:cni", "cilium"}},
		{"kapsule size", func(c *Config) { c.Kapsule.Size = 0 }, []string{"kapsule:size", "at least 1"}},
		{"kapsule size above the cluster maximum", func(c *Config) { c.Network.CIDR = "10.0.0.0/16"; c.Kapsule.Size = 151 }, []string{"kapsule:size 151", "150 nodes", "at most 150"}},
		{"node type empty", func(c *Config) { c.Kapsule.NodeType = "" }, []string{"kapsule:nodeType", "PRO2-XXS"}},
		{"node type unknown", func(c *Config) { c.Kapsule.NodeType = "PRO2-XXXS" }, []string{"kapsule:nodeType", `"PRO2-XXXS"`, "not a Kapsule node type", "PRO2-XXS"}},
		{"node type case", func(c *Config) { c.Kapsule.NodeType = "pro2_xxs" }, []string{"kapsule:nodeType", `must be written "PRO2-XXS"`}},
		{"node type too small", func(c *Config) { c.Kapsule.NodeType = "DEV1-S" }, []string{"kapsule:nodeType", "too little memory"}},
		{"api cidr", func(c *Config) { c.Kapsule.APIAllowedCIDRs = []string{"1.2.3.4"} }, []string{"kapsule:apiAllowedCidrs[0]", "<your-ip>/32"}},
		{"api cidr host bits", func(c *Config) { c.Kapsule.APIAllowedCIDRs = []string{"10.0.0.5/24"} }, []string{"kapsule:apiAllowedCidrs[0]", "host bits", "use 10.0.0.0/24"}},
		{"api cidr documentation range", func(c *Config) { c.Kapsule.APIAllowedCIDRs = []string{"198.51.100.0/24"} }, []string{"kapsule:apiAllowedCidrs[0]", "documentation range", "locks the machine running `up` out", "<your-ip>/32"}},
		{"api cidr inside a documentation range", func(c *Config) { c.Kapsule.APIAllowedCIDRs = []string{"8.8.8.8/32", "192.0.2.7/32"} }, []string{"kapsule:apiAllowedCidrs[1]", "documentation range"}},
		{"bastion range host bits", func(c *Config) { c.Network.AllowedIPRanges = []string{"10.0.0.5/24"} }, []string{"network:allowedIpRanges[0]", "use 10.0.0.0/24"}},
		{"bastion range documentation range", func(c *Config) { c.Network.AllowedIPRanges = []string{"203.0.113.0/24"} }, []string{"network:allowedIpRanges[0]", "documentation range", "nobody's address", "<your-ip>/32"}},
		{"bastion port", func(c *Config) { c.Network.BastionPort = 22 }, []string{"network:bastionPort", "1024 to 59999"}},
		{"bastion ranges empty", func(c *Config) { c.Network.AllowedIPRanges = nil }, []string{"network:allowedIpRanges", "empty"}},
		{"bastion range", func(c *Config) { c.Network.AllowedIPRanges = []string{"everyone"} }, []string{"network:allowedIpRanges[0]"}},
		{"agent name", func(c *Config) { c.Agent.Name = "My_Agent" }, []string{"agent:name", "lowercase"}},
		{"agent name too long", func(c *Config) { c.Agent.Name = strings.Repeat("a", 64) }, []string{"agent:name", "63"}},
		{"agent namespaces empty", func(c *Config) { c.Agent.Namespaces = nil }, []string{"agent:namespaces", "empty"}},
		{"agent namespace name", func(c *Config) { c.Agent.Namespaces = []string{"Demo"} }, []string{"agent:namespaces[0]", "namespace name"}},
		{"agent system namespace", func(c *Config) { c.Agent.Namespaces = []string{"gitops-demo", "kube-system"} }, []string{"agent:namespaces[1]", "Kubernetes itself"}},
		{"agent own namespace", func(c *Config) { c.Agent.Namespaces = []string{"gitlab-agent"} }, []string{"agent:namespaces[0]", "own namespace"}},
		{"agent namespace twice", func(c *Config) { c.Agent.Namespaces = []string{"a", "a"} }, []string{"agent:namespaces[1]", "twice"}},
		{"chart version", func(c *Config) { c.Agent.ChartVersion = "latest" }, []string{"agent:chartVersion", "pinned"}},
		{"image tag format", func(c *Config) { c.Agent.ImageTag = "18.5.2" }, []string{"agent:imageTag", "v18.5.2"}},
		{"chart ships another agentk", func(c *Config) { c.Agent.ChartVersion = "2.13.0" }, []string{"agent:chartVersion", "ships agentk v17.10.0", "agent:imageTag", "v17.10.x"}},
		{"image tag too old", func(c *Config) { c.Agent.ImageTag = "v17.11.0" }, []string{"agent:imageTag", "gitlabHost:version", "use v18.5.2", "v18.5.x"}},
		{"image tag format follows gitlab", func(c *Config) { c.GitLab.Version = "17.2.3-ce.0"; c.Agent.ImageTag = "latest" }, []string{"agent:imageTag", `such as "v17.2.3"`}},
		{"image tag too new", func(c *Config) { c.Agent.ImageTag = "v18.7.0" }, []string{"agent:imageTag", "one either side"}},
		{"tunnel port", func(c *Config) { c.Agent.TunnelPort = 443 }, []string{"agent:tunnelPort", "1024 to 65535"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tt.change(&c)
			err := c.Validate(reservedForTests...)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assertNoDocumentationRangeSuggested(t, err)
		})
	}
}

// assertNoDocumentationRangeSuggested fails if a message shows an address
// of a documentation range that it does not quote from the configuration:
// the validator refuses those ranges, so no fix may suggest one.
func assertNoDocumentationRangeSuggested(t *testing.T, err error) {
	t.Helper()
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, "documentation range") {
			continue // quotes the refused value
		}
		assert.NotRegexp(t, `192\.0\.2\.|198\.51\.100\.|203\.0\.113\.`, line)
	}
}

// TestSuggestionsPassTheirOwnRule applies the fix a message suggests and
// validates again: no message may suggest a value some rule refuses.
func TestSuggestionsPassTheirOwnRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*Config)
		suggest string // the suggested value, as the message's first capture
		apply   func(c *Config, v string)
	}{
		{"gitlab too old", func(c *Config) { c.GitLab.Version = "16.11.2-ce.0" }, `e\.g\. "([^"]+)"`, func(c *Config, v string) { c.GitLab.Version = v }},
		{"gitlab too old, ee", func(c *Config) { c.GitLab.Edition, c.GitLab.Version = "ee", "16.11.2-ee.0" }, `e\.g\. "([^"]+)"`, func(c *Config, v string) { c.GitLab.Version = v }},
		{"gitlab version format, ee", func(c *Config) { c.GitLab.Edition, c.GitLab.Version = "ee", "latest" }, `such as "([^"]+)"`, func(c *Config, v string) { c.GitLab.Version = v }},
		// Charts the pair tables do not list, so only the agentk tag is judged.
		{"image tag too far", func(c *Config) {
			c.GitLab.Version, c.Agent.ChartVersion, c.Runner.ChartVersion = "17.4.1-ce.0", "2.4.0", "0.69.0"
		}, `agent:imageTag.*use (v[0-9.]+),`, func(c *Config, v string) { c.Agent.ImageTag = v }},
		{"image tag format", func(c *Config) {
			c.GitLab.Version, c.Agent.ChartVersion, c.Runner.ChartVersion = "17.4.1-ce.0", "2.4.0", "0.69.0"
			c.Agent.ImageTag = "x"
		}, `agent:imageTag.*such as "([^"]+)"`, func(c *Config, v string) { c.Agent.ImageTag = v }},
		{"runner chart of another GitLab", func(c *Config) { c.Runner.ChartVersion = "0.83.3" }, `use the chart of GitLab's minor release \(([0-9.]+) for`, func(c *Config, v string) { c.Runner.ChartVersion = v }},
		{"network too small", func(c *Config) { c.Kapsule.Size = 150 }, `such as ([0-9./]+)$`, func(c *Config, v string) { c.Network.CIDR = v }},
		{"network host bits", func(c *Config) { c.Network.CIDR = "10.0.0.5/24" }, `use ([0-9./]+)$`, func(c *Config, v string) { c.Network.CIDR = v }},
		{"api cidr host bits", func(c *Config) { c.Kapsule.APIAllowedCIDRs = []string{"10.1.2.3/16"} }, `use ([0-9./]+),`, func(c *Config, v string) { c.Kapsule.APIAllowedCIDRs = []string{v} }},
		{"node type case", func(c *Config) { c.Kapsule.NodeType = "pop2_2c_8g" }, `written "([^"]+)"`, func(c *Config, v string) { c.Kapsule.NodeType = v }},
		{"node type too small", func(c *Config) { c.Kapsule.NodeType = "PLAY2-PICO" }, `use e\.g\. (\S+)$`, func(c *Config, v string) { c.Kapsule.NodeType = v }},
		{"instance type too small", func(c *Config) { c.GitLab.InstanceType = "DEV1-M" }, `use e\.g\. ([^,]+),`, func(c *Config, v string) { c.GitLab.InstanceType = v }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tt.change(&c)
			c.derive()
			err := c.Validate()
			require.Error(t, err)
			m := regexp.MustCompile(`(?m)` + tt.suggest).FindStringSubmatch(err.Error())
			require.NotNil(t, m, "no suggestion matching %s in %v", tt.suggest, err)
			tt.apply(&c, m[1])
			assert.NoError(t, c.Validate(), "after applying the suggested %q", m[1])
		})
	}
}

func TestValidateAcceptsGoodValues(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Network.CIDR = "192.168.10.0/26"
	c.Network.SSHPublicKey = goodKey
	c.GitLab.RootPassword = "correct horse battery"
	c.GitLab.InstanceType = "DEV1-L"
	c.Region, c.Zone = "it-mil", "it-mil-1"
	c.Kapsule.APIAllowedCIDRs = []string{"8.8.8.0/24", "0.0.0.0/0"}
	c.Kapsule.NodeType, c.Kapsule.Size = "POP2-HC-4C-8G", 5
	c.Agent.Name = "prod-agent-1"
	c.Agent.Namespaces = []string{"web", "jobs"}
	c.Agent.ImageTag, c.Agent.ChartVersion = "v18.4.2", "2.19.0" // a chart the pair table does not list
	// The demo needs gitops-demo among agent:namespaces (gitops_test.go).
	c.GitOps.Enabled = false
	require.NoError(t, c.Validate())
	c.Agent.Namespaces, c.Agent.ClusterAdmin = nil, true
	require.NoError(t, c.Validate(), "a cluster-admin agent needs no namespace list")
	for region, zones := range zonesByRegion {
		for _, zone := range zones {
			c.Region, c.Zone = region, zone
			assert.NoError(t, c.Validate())
		}
	}
	// 0.64.0: a runner chart the pair table does not list.
	c.GitLab.Edition, c.GitLab.Version, c.Agent.ImageTag, c.Runner.ChartVersion = "ee", "17.0.0-ee.0", "v17.1.0", "0.64.0"
	assert.NoError(t, c.Validate(), "17.0 is the oldest GitLab; agentk one minor ahead")
	c.Kapsule.Size = kapsuleMaxNodes
	c.Network.CIDR = "10.0.0.0/23"
	assert.NoError(t, c.Validate(), "the largest pool fits a /23")
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Network.CIDR = "nonsense"
	c.GitLab.RootPassword = "x"
	c.Kapsule.Size = 0
	err := c.Validate()
	require.Error(t, err)
	for _, key := range []string{"network:cidr", "gitlabHost:rootPassword", "kapsule:size"} {
		assert.Contains(t, err.Error(), key)
	}
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	dnsSafe := regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	tests := []struct{ stack, want string }{
		// Clean names keep the prefix they always had: existing stacks keep
		// their resource names.
		{"dev", "glk-dev"},
		{"prod-eu-1", "glk-prod-eu-1"},
		{"a--b", "glk-a--b"},
		{"x", "glk-x"},
		// Any other name gets a hash of the exact name.
		{"dev_1", "glk-dev-1-" + hash8("dev_1")},
		{"Dev-1", "glk-dev-1-" + hash8("Dev-1")},
		{"dev.1", "glk-dev-1-" + hash8("dev.1")},
		{"Team_A.prod", "glk-team-a-prod-" + hash8("Team_A.prod")},
		{"...", "glk-stack-" + hash8("...")},
		{"-dev", "glk-dev-" + hash8("-dev")},
		{strings.Repeat("Long_", 20), "glk-long-long-long-long-" + hash8(strings.Repeat("Long_", 20))},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := Prefix(tt.stack)
		assert.Equal(t, tt.want, got, tt.stack)
		assert.Regexp(t, dnsSafe, got, tt.stack)
		assert.LessOrEqual(t, len(got), max(len("glk-")+len(tt.stack), 33), "short: %s", tt.stack)
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q share the prefix %s", tt.stack, other, got)
		}
		seen[got] = tt.stack
	}
	assert.Equal(t, "glk-dev-1-9f32e243", Prefix("dev_1"), "stable from release to release")
}

func hash8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

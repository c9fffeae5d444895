package config

import (
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
	assert.Equal(t, "10.0.0.10", c.GitLab.PrivateIP, "GitLab's address defaults to the tenth of the network")
}

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
		{"too small for kapsule", func(c *Config) { c.Network.CIDR = "10.0.0.0/29"; c.GitLab.PrivateIP = "10.0.0.2" }, []string{"network:cidr", "too small", "need 6"}},
		{"too small for many nodes", func(c *Config) { c.Network.CIDR = "10.0.0.0/27"; c.Kapsule.Size = 20 }, []string{"network:cidr", "too small", "20 Kapsule nodes"}},
		{"ssh key does not parse", func(c *Config) { c.Network.SSHPublicKey = "ssh-ed25519 not-base64" }, []string{"network:sshPublicKey", "id_ed25519.pub"}},
		{"short password", func(c *Config) { c.GitLab.RootPassword = "short" }, []string{"gitlabHost:rootPassword", "8 characters"}},
		{"unknown region", func(c *Config) { c.Region = "us-east" }, []string{"scaleway:region", "fr-par, nl-ams, pl-waw"}},
		{"zone outside region", func(c *Config) { c.Zone = "nl-ams-1" }, []string{"scaleway:zone", "fr-par-1, fr-par-2, fr-par-3"}},
		{"instance below minimum", func(c *Config) { c.GitLab.InstanceType = "DEV1-M" }, []string{"gitlabHost:instanceType", "3 vCPU and 4 GB", "minimum of 4 vCPU and 8 GB"}},
		{"instance 2 vCPU 8 GB", func(c *Config) { c.GitLab.InstanceType = "PRO2-XXS" }, []string{"gitlabHost:instanceType", "2 vCPU"}},
		{"unknown instance", func(c *Config) { c.GitLab.InstanceType = "XL-42" }, []string{"gitlabHost:instanceType", "PRO2-XS"}},
		{"image", func(c *Config) { c.GitLab.Image = "debian_bookworm" }, []string{"gitlabHost:image", "ubuntu_noble"}},
		{"gitlab version format", func(c *Config) { c.GitLab.Version = "latest" }, []string{"gitlabHost:version", "18.5.1-ce.0"}},
		{"gitlab too old", func(c *Config) { c.GitLab.Version = "16.11.2-ce.0" }, []string{"gitlabHost:version", "17.0"}},
		{"edition mismatch", func(c *Config) { c.GitLab.Version = "18.5.1-ee.0" }, []string{"gitlabHost:version", "gitlabHost:edition"}},
		{"ip outside cidr", func(c *Config) { c.GitLab.PrivateIP = "10.1.0.10" }, []string{"gitlabHost:privateIp", "outside network:cidr"}},
		{"ip reserved", func(c *Config) { c.GitLab.PrivateIP = "10.0.0.1" }, []string{"gitlabHost:privateIp", "Scaleway keeps"}},
		{"disk", func(c *Config) { c.GitLab.DiskSizeGB = 10 }, []string{"gitlabHost:diskSizeGb", "at least 20"}},
		{"kapsule version", func(c *Config) { c.Kapsule.Version = "1.34" }, []string{"kapsule:version", "full version"}},
		{"kapsule cni", func(c *Config) { c.Kapsule.CNI = "kilo" }, []string{"kapsule:cni", "cilium"}},
		{"kapsule size", func(c *Config) { c.Kapsule.Size = 0 }, []string{"kapsule:size", "at least 1"}},
		{"api cidr", func(c *Config) { c.Kapsule.APIAllowedCIDRs = []string{"1.2.3.4"} }, []string{"kapsule:apiAllowedCidrs[0]", "198.51.100.7/32"}},
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
		{"image tag format", func(c *Config) { c.Agent.ImageTag = "18.5.1" }, []string{"agent:imageTag", "v18.5.1"}},
		{"image tag too old", func(c *Config) { c.Agent.ImageTag = "v17.11.0" }, []string{"agent:imageTag", "gitlabHost:version", "v18.5.x"}},
		{"image tag too new", func(c *Config) { c.Agent.ImageTag = "v18.7.0" }, []string{"agent:imageTag", "one either side"}},
		{"tunnel port", func(c *Config) { c.Agent.TunnelPort = 443 }, []string{"agent:tunnelPort", "1024 to 65535"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tt.change(&c)
			err := c.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestValidateAcceptsGoodValues(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Region, c.Zone = "nl-ams", "nl-ams-2"
	c.Network.CIDR = "192.168.10.0/26"
	c.Network.SSHPublicKey = goodKey
	c.GitLab.RootPassword = "correct horse battery"
	c.GitLab.InstanceType = "DEV1-L"
	c.Kapsule.APIAllowedCIDRs = []string{"198.51.100.0/24"}
	c.Agent.Name = "prod-agent-1"
	c.Agent.Namespaces = []string{"web", "jobs"}
	c.Agent.ImageTag = "v18.4.2"
	// The demo needs gitops-demo among agent:namespaces (gitops_test.go).
	c.GitOps.Enabled = false
	require.NoError(t, c.Validate())
	c.Agent.Namespaces, c.Agent.ClusterAdmin = nil, true
	require.NoError(t, c.Validate(), "a cluster-admin agent needs no namespace list")
	assert.Equal(t, "192.168.10.10", c.GitLab.PrivateIP)
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
	assert.Equal(t, "glk-dev", Prefix("dev"))
	assert.Equal(t, "glk-team-a-prod", Prefix("Team_A.prod"))
	assert.Equal(t, "glk-stack", Prefix("..."))
}

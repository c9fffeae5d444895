package config

import "time"

// Config is the whole stack configuration, grouped by the component it feeds.
// Each group is its own Pulumi config namespace: `network:cidr`,
// `gitlabHost:instanceType`, `kapsule:version`. Region and zone use the
// Scaleway provider's own keys, `scaleway:region` and `scaleway:zone`.
type Config struct {
	// Region is the Scaleway region (scaleway:region), e.g. "fr-par".
	Region string
	// Zone is the availability zone in Region (scaleway:zone), e.g. "fr-par-1".
	Zone string
	// Prefix starts every Scaleway resource name, derived from the stack name
	// so that two stacks in one Scaleway project do not collide.
	Prefix  string
	Network Network
	GitLab  GitLab
	// Kapsule, and Agent's name, namespaces and clusterAdmin, and
	// GitOps.Enabled, describe the one cluster of a stack without
	// kapsule:clusters; ClusterList turns either form into the clusters.
	Kapsule Kapsule
	Agent   Agent
	GitOps  GitOps
	// Clusters is kapsule:clusters, the list form; nil in the one-cluster form.
	Clusters []Cluster
	// Runner is the GitLab Runner of every cluster.
	Runner Runner
	// Backup is GitLab's backups to Object Storage.
	Backup Backup
}

// Network configures the private network and its Public Gateway.
type Network struct {
	// CIDR is the private network's IPv4 subnet (network:cidr).
	CIDR string
	// BastionPort is the SSH bastion's port on the gateway (network:bastionPort).
	BastionPort int
	// AllowedIPRanges may reach the SSH bastion (network:allowedIpRanges).
	AllowedIPRanges []string
	// SSHPublicKey is the operator's key, registered so people can use the
	// bastion (network:sshPublicKey). Optional: the program has its own key.
	SSHPublicKey string
}

// GitLab configures the GitLab host.
type GitLab struct {
	// InstanceType is the Scaleway instance type (gitlabHost:instanceType).
	InstanceType string
	// Image is the Ubuntu image label (gitlabHost:image).
	Image string
	// Edition is "ce" or "ee" (gitlabHost:edition).
	Edition string
	// Version is the Omnibus package version, e.g. "18.5.1-ce.0" (gitlabHost:version).
	Version string
	// PrivateIP is the reserved address of the host in the private network
	// (gitlabHost:privateIp); the tenth address of network:cidr by default.
	PrivateIP string
	// DiskSizeGB is the root volume's size (gitlabHost:diskSizeGb): the
	// system only, since GitLab's data lives on the data volume.
	DiskSizeGB int
	// DataVolumeSizeGB is the size of the block volume that holds GitLab's
	// data and configuration (gitlabHost:dataVolumeSizeGb). It may grow, never shrink.
	DataVolumeSizeGB int
	// RetainDataVolume keeps the data volume when the stack is destroyed
	// (gitlabHost:retainDataVolume); true by default.
	RetainDataVolume bool
	// RootPassword is the initial root password (gitlabHost:rootPassword,
	// a secret); generated when empty.
	RootPassword string
	// TLS serves GitLab's web UI over HTTPS and KAS over grpcs:// with a
	// private CA (gitlabHost:tls). Off means plain http:// and grpc://.
	TLS bool
}

// Kapsule configures the Kubernetes cluster.
type Kapsule struct {
	// Version is the Kubernetes version (kapsule:version): a minor such as
	// "1.36" turns Kapsule's auto-upgrade on, so Scaleway applies the patch
	// releases (it offers only the latest patch of each supported minor for
	// new clusters); a full version such as "1.36.1" pins it, auto-upgrade off.
	Version string
	// CNI is the cluster's network plugin (kapsule:cni).
	CNI string
	// NodeType is the pool's instance type (kapsule:nodeType).
	NodeType string
	// Size is the number of nodes in the pool (kapsule:size).
	Size int
	// APIAllowedCIDRs may reach the Kubernetes API besides the gateway's own
	// address (kapsule:apiAllowedCidrs). Empty leaves the API open, with a warning.
	APIAllowedCIDRs []string
}

// Agent configures the GitLab agent for Kubernetes: its registration in
// GitLab, its installation in the cluster and how the program reaches
// GitLab's API.
type Agent struct {
	// Name is the agent's name in GitLab (agent:name): a DNS label.
	Name string
	// Namespaces are the namespaces the agent may deploy to
	// (agent:namespaces); it gets a Role in each and nothing cluster-wide.
	Namespaces []string
	// ClusterAdmin binds the agent to cluster-admin (agent:clusterAdmin),
	// the upstream chart's default; off by default, with a warning when on.
	ClusterAdmin bool
	// ChartVersion pins the gitlab-agent Helm chart (agent:chartVersion).
	ChartVersion string
	// ImageTag pins the agentk image (agent:imageTag), e.g. "v18.5.1".
	ImageTag string
	// CIAccessProjects are the projects, by full path, whose CI jobs may use
	// every agent's context besides the agents' configuration project
	// (agent:ciAccessProjects); the program writes the agents' config files.
	CIAccessProjects []string
	// TunnelPort is the fixed loopback port of the program's SSH tunnel to
	// GitLab's HTTPS port (agent:tunnelPort); the GitLab provider's base URL
	// points at it, so it must stay the same from run to run.
	TunnelPort int
}

// Defaults returns the configuration a stack gets for every key it leaves unset.
func Defaults() Config {
	return Config{
		Region: "fr-par",
		Zone:   "fr-par-1",
		Network: Network{
			CIDR:            "10.0.0.0/24",
			BastionPort:     61000,
			AllowedIPRanges: []string{"0.0.0.0/0"},
		},
		GitLab: GitLab{
			InstanceType: "PRO2-XS",
			Image:        "ubuntu_noble",
			Edition:      "ce",
			// 18.5.2 bundles KAS 18.5.2 (omnibus-gitlab tag 18.5.2+ce.0,
			// GITLAB_KAS_VERSION); agentk and the chart below match it.
			Version:          "18.5.2-ce.0",
			DiskSizeGB:       50,
			DataVolumeSizeGB: 100,
			RetainDataVolume: true,
			TLS:              true,
		},
		Kapsule: Kapsule{
			// 1.34 left support on 2026-11-29; 1.36 is supported until
			// 2027-09-07 (docs-content kubernetes/reference-content/
			// version-support-policy.mdx; versions offered in fr-par on
			// 2026-08-18: 1.36.1, 1.35.3, 1.34.6, 1.33.10, terraform-provider-
			// scaleway k8s testdata pool-taints-and-labels.cassette.yaml).
			Version:  "1.36",
			CNI:      "cilium",
			NodeType: "PRO2-XXS",
			Size:     2,
		},
		Agent: Agent{
			Name:       "kapsule",
			Namespaces: []string{"gitops-demo"},
			// Chart 2.20.1 ships agentk 18.5.2 (agentChartShips).
			ChartVersion: "2.20.1",
			ImageTag:     "v18.5.2",
			TunnelPort:   18443,
		},
		Runner: Runner{
			Enabled: true,
			// Chart 0.82.0 ships GitLab Runner 18.5.0, the runner of GitLab
			// 18.5 (runnerChartShips).
			ChartVersion: "0.82.0",
			Concurrency:  4,
		},
		Backup: Backup{
			Enabled:       true,
			Schedule:      "daily",
			RetentionDays: 30,
		},
		GitOps: GitOps{
			Enabled:          true,
			FluxChartVersion: "2.17.0",
			Interval:         time.Minute,
			Timeout:          5 * time.Minute,
		},
	}
}

package sim

import "time"

// Type tokens the tables below name.
const (
	typeTLSKey         = "tls:index/privateKey:PrivateKey"
	typeRandomPassword = "random:index/randomPassword:RandomPassword"
	typeSSHKey         = "scaleway:iam/sshKey:SshKey"
	typeVPC            = "scaleway:network/vpc:Vpc"
	typePN             = "scaleway:network/privateNetwork:PrivateNetwork"
	typeIPAMIP         = "scaleway:ipam/ip:Ip"
	typeGatewayIP      = "scaleway:network/publicGatewayIp:PublicGatewayIp"
	typeGateway        = "scaleway:network/publicGateway:PublicGateway"
	typeGatewayNetwork = "scaleway:network/gatewayNetwork:GatewayNetwork"
	typeSecurityGroup  = "scaleway:instance/securityGroup:SecurityGroup"
	typeServer         = "scaleway:instance/server:Server"
	typePrivateNIC     = "scaleway:instance/privateNic:PrivateNic"
	typeGitLabConfig   = "gitlabwait:index:GitLabConfigured"
	typeDataVolume     = "scaleway:block/volume:Volume"
	typeBucket         = "scaleway:object/bucket:Bucket"
	typeIAMApp         = "scaleway:iam/application:Application"
	typeIAMPolicy      = "scaleway:iam/policy:Policy"
	typeAPIKey         = "scaleway:iam/apiKey:ApiKey"
	typeCluster        = "scaleway:kubernetes/cluster:Cluster"
	typePool           = "scaleway:kubernetes/pool:Pool"
	typeACL            = "scaleway:kubernetes/acl:Acl"
	typeK8sProvider    = "pulumi:providers:kubernetes"
	typeGitLabProvider = "pulumi:providers:gitlab"
	typeNamespace      = "kubernetes:core/v1:Namespace"
	typeSelfSignedCert = "tls:index/selfSignedCert:SelfSignedCert"
	typeCertRequest    = "tls:index/certRequest:CertRequest"
	typeSignedCert     = "tls:index/locallySignedCert:LocallySignedCert"
	typePipeline       = "gitlabwait:index:PipelineSucceeded"
	typeAgentConnected = "gitlabwait:index:AgentConnected"
	typeRelease        = "kubernetes:helm.sh/v3:Release"
	typeRepoFile       = "gitlab:index/repositoryFile:RepositoryFile"
)

// DefaultLatencies is the latency table of docs/performance.md. Observed
// figures come from /work/shared/FACTS.md ("Scaleway", single recorded runs in
// terraform-provider-scaleway cassettes); the rest are estimates, marked so.
func DefaultLatencies() Latencies {
	const s = time.Second
	return Latencies{ByType: map[string]time.Duration{
		// Computed inside the provider plugin, no API call.
		"tls:*":              0,
		"random:*":           0,
		"pulumi:providers:*": 0,
		// One API call each (estimate).
		typeSSHKey:        2 * s,
		typeVPC:           2 * s,
		typePN:            2 * s,
		typeIPAMIP:        2 * s,
		typeGatewayIP:     2 * s,
		typeSecurityGroup: 2 * s,
		typeACL:           2 * s,
		typeDataVolume:    2 * s,
		typeBucket:        2 * s,
		typeIAMApp:        2 * s,
		typeIAMPolicy:     2 * s,
		typeAPIKey:        2 * s,
		// Observed 5–11 s (FACTS).
		typeGateway: 10 * s,
		// Observed 11–12 s (FACTS).
		typeGatewayNetwork: 12 * s,
		// Create and boot to running (estimate: FACTS has "running in
		// seconds", OS boot not captured).
		typeServer: 60 * s,
		// Hot-plug and IPAM attach (estimate).
		typePrivateNIC: 10 * s,
		// Over SSH: mount the data volume, Omnibus download, install and
		// first reconfigure, then readiness, counted from when server, NIC
		// and route exist (estimate: FACTS "several minutes, a 300 s timeout
		// is known to be too short"; README "6 to 10 minutes").
		typeGitLabConfig: 6 * time.Minute,
		// Control plane (estimate, conservative: FACTS has the cluster ready
		// 75–90 s after its first pool is created).
		typeCluster: 5 * time.Minute,
		// Private-only pool: observed 4–11 min (FACTS); the low end.
		typePool: 4 * time.Minute,
		// Later components (estimates): GitLab API calls, Kubernetes objects,
		// Helm releases that wait for their pods, the agent's first connection.
		"gitlab:*":                      2 * s,
		"kubernetes:*":                  2 * s,
		"kubernetes:apps/v1:Deployment": 30 * s,
		"kubernetes:helm.sh/v3:Release": 30 * s,
		"kubernetes:helm.sh/v4:Chart":   30 * s,
		typeAgentConnected:              30 * s,
		// The demo pipeline: jobs pull the kubectl image and roll out one
		// Deployment per cluster, side by side (estimate).
		typePipeline: 2 * time.Minute,
	}}
}

// DefaultRequirements is the table of real ordering constraints: what a
// resource cannot be created without, because it takes another's output as
// data the cloud needs, or because the cloud misbehaves otherwise (sources
// in FACTS.md). The ideal deployment honours these and nothing else.
func DefaultRequirements() []Requirement {
	return append([]Requirement{
		// Roots: created from configuration alone.
		{Type: typeTLSKey, Why: "generated from configuration"},
		{Type: typeRandomPassword, Why: "generated from configuration"},
		{Type: typeVPC, Why: "created from configuration"},
		{Type: typeGatewayIP, Why: "created from configuration"},
		{Type: typeSecurityGroup, Why: "created from configuration (its rules are literals)"},

		{Type: typeSelfSignedCert, Needs: typeTLSKey, Must: true, Why: "the CA certificate is signed with the CA key (PrivateKeyPem)"},
		{Type: typeCertRequest, Needs: typeTLSKey, Must: true, Why: "the request is signed with GitLab's key (PrivateKeyPem)"},
		{Type: typeSignedCert, Needs: typeCertRequest, Must: true, Why: "the CA signs GitLab's request (CertRequestPem)"},
		{Type: typeSignedCert, Needs: typeSelfSignedCert, Must: true, Why: "with the CA certificate (CaCertPem)"},
		{Type: typeSignedCert, Needs: typeTLSKey, Must: true, Why: "and the CA key (CaPrivateKeyPem)"},
		{Type: typeSSHKey, Needs: typeTLSKey, Why: "the program's key registers the generated public key (the operator's key needs nothing)"},
		{Type: typePN, Needs: typeVPC, Must: true, Why: "a private network is created in its VPC (VpcId)"},
		{Type: typeIPAMIP, Needs: typePN, Must: true, Why: "the address is reserved in the private network's subnet (Sources.PrivateNetworkId)"},
		{Type: typeGateway, Needs: typeGatewayIP, Must: true, Why: "the gateway takes its reserved public address (IpId)"},
		{Type: typeGateway, Needs: typeSSHKey, Must: true, Why: "the bastion copies the project's SSH keys only when enabled or refreshed (FACTS: Public Gateways)"},
		{Type: typeGatewayNetwork, Needs: typeGateway, Must: true, Why: "attaches the gateway (GatewayId)"},
		{Type: typeGatewayNetwork, Needs: typePN, Must: true, Why: "to the private network (PrivateNetworkId)"},
		{Type: typeGatewayNetwork, Needs: typeIPAMIP, Must: true, Why: "the gateway takes a private address by IPAM: GitLab's must be reserved first (terraform-provider-scaleway docs/resources/ipam_ip.md)"},
		{Type: typeServer, Needs: typeSecurityGroup, Must: true, Why: "the instance joins its security group (SecurityGroupId)"},
		{Type: typeServer, Needs: typeSSHKey, Must: true, Why: "root's authorized keys come from the project's IAM SSH keys when the instance is created (FACTS, review of 2026-12-01): sshCommand works from the first boot"},
		{Type: typeServer, Needs: typeDataVolume, Must: true, Why: "the data volume is attached at creation (AdditionalVolumeIds)"},
		{Type: typePrivateNIC, Needs: typeServer, Must: true, Why: "the NIC is plugged into the instance (ServerId)"},
		{Type: typePrivateNIC, Needs: typePN, Must: true, Why: "on the private network (PrivateNetworkId)"},
		{Type: typePrivateNIC, Needs: typeIPAMIP, Must: true, Why: "with the reserved address (IpamIpIds)"},
		{Type: typeGitLabConfig, Needs: typeServer, Must: true, Why: "configures this instance (InstanceId: a replaced instance is configured again)"},
		{Type: typeGitLabConfig, Needs: typePrivateNIC, Must: true, Why: "the host is reached on its private address only once the NIC is attached"},
		{Type: typeGitLabConfig, Needs: typeGatewayNetwork, Must: true, Why: "SSH goes through the bastion, which reaches the private network only once attached; the install also needs its route out"},
		{Type: typeGitLabConfig, Needs: typeDataVolume, Must: true, Why: "it mounts the data volume (DataVolumeId)"},
		{Type: typeGitLabConfig, Needs: typeSignedCert, Why: "with TLS, it installs GitLab's certificate (TlsCert)"},
		{Type: typeGitLabConfig, Needs: typeAPIKey, Why: "with backups, it installs the bucket's key (Backup.SecretKey)"},
		{Type: typeGitLabConfig, Needs: typeBucket, Why: "and names the bucket (Backup.Bucket)"},
		{Type: typeGitLabConfig, Needs: typeIAMPolicy, Why: "the key is usable only once its policy exists (Scaleway IAM docs: using-api-key-object-storage)"},
		{Type: typeIAMPolicy, Needs: typeIAMApp, Must: true, Why: "the policy is the application's (ApplicationId)"},
		{Type: typeIAMPolicy, Needs: typeBucket, Why: "in the bucket's project (ProjectIds)"},
		{Type: typeAPIKey, Needs: typeIAMApp, Must: true, Why: "the key is the application's (ApplicationId)"},
		{Type: typeAPIKey, Needs: typeBucket, Why: "its preferred project is the bucket's (DefaultProjectId)"},
		{Type: typeBucket, Why: "created from configuration"},
		{Type: typeIAMApp, Why: "created from configuration"},
		{Type: typeDataVolume, Why: "created from configuration"},
		{Type: typeCluster, Needs: typePN, Must: true, Why: "new Kapsule clusters must join a private network (PrivateNetworkId)"},
		{Type: typeCluster, Needs: typeIPAMIP, Must: true, Why: "GitLab's address is reserved before anything else joins the network, or a node's lease may take it (terraform-provider-scaleway docs/resources/ipam_ip.md)"},
		{Type: typePool, Needs: typeCluster, Must: true, Why: "the pool belongs to the cluster (ClusterId)"},
		{Type: typePool, Needs: typeGatewayNetwork, Must: true, Why: "private-only nodes need the gateway's NAT and pushed default route (FACTS; terraform-provider-scaleway pool_test.go TestAccPool_PublicIPDisabled)"},
		{Type: typeACL, Needs: typeCluster, Must: true, Why: "the access list belongs to the cluster (ClusterId)"},
		{Type: typeACL, Needs: typeGatewayIP, Why: "it admits the gateway's NAT address"},
		{Type: typeK8sProvider, Needs: typeCluster, Must: true, Why: "built from the cluster's kubeconfig"},
		{Type: "kubernetes:*", Needs: typeK8sProvider, Must: true, Why: "Kubernetes objects go into the Kapsule cluster through the provider Kapsule builds, never an ambient kubeconfig"},
		{Type: typeNamespace, Why: "a namespace needs nothing but the cluster's provider: it must not wait for GitLab"},
		{Type: typeGitLabProvider, Needs: typeGitLabConfig, Must: true, Why: "GitLab's API answers, with the automation token installed, only once GitLab is configured"},
		{Type: "gitlab:*", Needs: typeGitLabProvider, Must: true, Why: "GitLab objects go through the provider built from GitLabHost's outputs"},
		{Type: typePipeline, Needs: typeRepoFile, Must: true, Why: "it waits for the pipeline of the CI file's commit (Sha)"},
		{Type: typePipeline, Needs: typeAgentConnected, Must: true, Why: "the pipeline's jobs deploy through every cluster's agent, so the CI file is committed (and the wait starts) once every agent is connected"},
		{Type: typePipeline, Needs: typeRelease, Must: true, Why: "the jobs run on the clusters' runners, installed by their releases"},
		{Type: typePipeline, Needs: typeIPAMIP, Why: "GitLab's private address, behind the bastion (TargetHost)"},
	}, append(throughBastion(typeGitLabConfig), throughBastion(typePipeline)...)...)
}

// throughBastion are what a readiness wait (provider/) takes to ask GitLab
// through the bastion: its address, the program's key, the private CA with
// TLS, and the automation token it asks with.
func throughBastion(wait string) []Requirement {
	return []Requirement{
		{Type: wait, Needs: typeGatewayIP, Why: "the wait goes through the bastion (BastionHost)"},
		{Type: wait, Needs: typeTLSKey, Why: "the program's key authenticates to the bastion (PrivateKey)"},
		{Type: wait, Needs: typeSelfSignedCert, Why: "with TLS, it trusts the private CA (CaCert)"},
		{Type: wait, Needs: typeRandomPassword, Why: "it asks with the automation token (Token, AdminToken), and GitLabConfigured installs it and the root password"},
	}
}

// DefaultModel is the model docs/performance.md reports: the default tables,
// and the Pulumi CLI's default parallelism on a 2-CPU machine (v3.274.1:
// 4 × GOMAXPROCS, pulumi/pulumi#14989).
func DefaultModel() Model {
	return Model{Latencies: DefaultLatencies(), Requirements: DefaultRequirements(), Parallel: 8}
}

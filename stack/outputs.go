package stack

import (
	"maps"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Output names one stack output. The program exports every output under
// its constant here and whoever reads the stack (the gitlab-kapsule command,
// CI, an embedder) looks it up by the same constant: a renamed output is a
// compile error, not an empty value at run time.
type Output string

// The stack's outputs; README "Outputs" says what each holds. 🔒 marks secrets.
const (
	// GitLabURL is GitLab on its private address, known once GitLab answers.
	GitLabURL Output = "gitlabUrl"
	// GitLabPrivateIP is the GitLab host's reserved private address.
	GitLabPrivateIP Output = "gitlabPrivateIp"
	// GitLabCACert is the private CA (PEM) that signs GitLab's certificate.
	GitLabCACert Output = "gitlabCaCert"
	// GitLabRootPassword is GitLab's root password. 🔒
	GitLabRootPassword Output = "gitlabRootPassword"
	// KASAddress is where agentk connects, e.g. grpcs://10.0.0.10:8150.
	KASAddress Output = "kasAddress"
	// Bastion is the jump host, bastion@IP:PORT.
	Bastion Output = "bastion"
	// SSHCommand opens a shell on the GitLab host through the bastion.
	SSHCommand Output = "sshCommand"
	// PrivateNetworkID is the private network, for resources added beside the stack.
	PrivateNetworkID Output = "privateNetworkId"
	// BackupBucket is the Object Storage bucket GitLab's backups go to (backup:enabled).
	BackupBucket Output = "backupBucket"
	// BackupEndpoint is its region's S3 endpoint, https://s3.<region>.scw.cloud (backup:enabled).
	BackupEndpoint Output = "backupEndpoint"
	// KapsuleClusterID is the cluster's Scaleway id.
	KapsuleClusterID Output = "kapsuleClusterId"
	// KapsuleAPIServerURL is the cluster's Kubernetes API.
	KapsuleAPIServerURL Output = "kapsuleApiServerUrl"
	// Kubeconfig is the cluster's admin kubeconfig. 🔒
	Kubeconfig Output = "kubeconfig"
	// AgentName is the agent's name, known once GitLab lists it as connected.
	AgentName Output = "agentName"
	// AgentID is the agent's id in GitLab's API.
	AgentID Output = "agentId"
	// AgentConnectedAt is when GitLab first listed the agent's connection.
	AgentConnectedAt Output = "agentConnectedAt"
	// AgentConfigProjectURL is the agent's configuration project.
	AgentConfigProjectURL Output = "agentConfigProjectUrl"
	// AgentKubeContext is the context the project's CI jobs use, "<project>:<agent>".
	AgentKubeContext Output = "agentKubeContext"
	// DemoNamespace is the GitOps demo's namespace, known once Flux applied it (gitops:enabled).
	DemoNamespace Output = "demoNamespace"
	// DemoCheckCommand shows the demo's objects (gitops:enabled).
	DemoCheckCommand Output = "demoCheckCommand"
	// DemoManifestsURL is where to edit the demo in GitLab (gitops:enabled).
	DemoManifestsURL Output = "demoManifestsUrl"
	// RunnerID is the cluster's GitLab Runner's id in GitLab (runner:enabled).
	RunnerID Output = "runnerId"
	// CINamespace is where the demo pipeline deploys in the cluster (runner:enabled).
	CINamespace Output = "ciNamespace"
	// PipelineURL is the demo pipeline that deployed through the agents,
	// known once it succeeded (runner:enabled).
	PipelineURL Output = "pipelineUrl"
	// Clusters holds, with kapsule:clusters, each cluster's outputs by the
	// cluster's name: the PerCluster outputs but Kubeconfig.
	Clusters Output = "clusters"
	// Kubeconfigs holds, with kapsule:clusters, each cluster's admin
	// kubeconfig by the cluster's name. 🔒
	Kubeconfigs Output = "kubeconfigs"
)

// PerCluster are the outputs each cluster has. A one-cluster stack exports
// them at the top level, as it always has; with kapsule:clusters they are
// under Clusters (Kubeconfig under Kubeconfigs), and ForCluster reads either.
var PerCluster = []Output{
	Kubeconfig, KapsuleClusterID, KapsuleAPIServerURL,
	AgentName, AgentID, AgentConnectedAt, AgentKubeContext, DemoNamespace, DemoCheckCommand, DemoManifestsURL,
	RunnerID, CINamespace,
}

// Outputs are the stack's outputs by name, as Build returns them.
type Outputs map[Output]pulumi.Input

// AllOutputs lists every output the program may export, in README order.
var AllOutputs = []Output{
	GitLabURL, GitLabCACert, GitLabPrivateIP, GitLabRootPassword, KASAddress, Bastion, SSHCommand,
	Kubeconfig, KapsuleClusterID, KapsuleAPIServerURL, PrivateNetworkID, BackupBucket, BackupEndpoint,
	AgentName, AgentID, AgentConnectedAt, DemoNamespace, DemoCheckCommand, DemoManifestsURL,
	AgentConfigProjectURL, AgentKubeContext, RunnerID, CINamespace, PipelineURL, Clusters, Kubeconfigs,
}

// export exports every output under its name.
func (o Outputs) export(ctx *pulumi.Context) {
	for name, value := range o {
		ctx.Export(string(name), value)
	}
}

// addClusters adds each cluster's outputs: at the top level for a
// one-cluster stack, as it always had them; with kapsule:clusters under
// Clusters and Kubeconfigs, by the cluster's name.
func (o Outputs) addClusters(cfg *config.Config, clusters []config.Cluster, perCluster []Outputs) {
	if cfg.Clusters == nil {
		maps.Copy(o, perCluster[0])
		return
	}
	byName, kubeconfigs := pulumi.Map{}, pulumi.Map{}
	for i, cl := range clusters {
		own := pulumi.Map{}
		for name, v := range perCluster[i] {
			if name != Kubeconfig {
				own[string(name)] = v
			}
		}
		byName[cl.Name] = own
		kubeconfigs[cl.Name] = perCluster[i][Kubeconfig]
	}
	o[Clusters] = byName
	o[Kubeconfigs] = pulumi.ToSecret(kubeconfigs)
}

// HostConfigurationURN is the URN of the GitLab host's GitLabConfigured in
// stack stackName of project: `up --reconfigure` asks the engine to replace
// it, which runs the host's configuration again with the stack's secrets
// (its Delete does nothing on the host).
func HostConfigurationURN(stackName, project string) string {
	return "urn:pulumi:" + stackName + "::" + project + "::gitlab-kapsule:index:GitLabHost$gitlabwait:index:GitLabConfigured::" + gitlabHostName + "-configured"
}

package mockcloud

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GatewayIP is the address the mock gives the Public Gateway (TEST-NET-3,
// reserved for documentation, so it can never be anyone's real host).
const GatewayIP = "203.0.113.10"

// MockAgentToken is the agent token the mock ClusterAgentToken returns (secret).
const MockAgentToken = "glagent-mock-agent-token"

// MockDeployToken is the token the mock DeployToken returns (secret).
const MockDeployToken = "gldt-mock-deploy-token"

// MockRunnerToken is the authentication token the mock UserRunner returns (secret).
const MockRunnerToken = "glrt-mock-runner-token"

// MockBackupAccessKey and MockBackupSecretKey (secret) are the backup
// bucket's credentials the mock ApiKey returns.
const (
	MockBackupAccessKey = "mock-backup-access-key"
	MockBackupSecretKey = "mock-backup-secret-key"
)

// MockProjectID is the project the mock bucket lands in when none is given.
const MockProjectID = "11111111-2222-3333-4444-555555555555"

// outputsFor returns the inputs plus what the real provider would compute.
func outputsFor(args pulumi.MockResourceArgs) (resource.PropertyMap, error) {
	out := args.Inputs.Copy()
	set := func(k string, v any) { out[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	switch {
	case !args.Custom:
		// Component resources have no provider behind them.
	case strings.HasPrefix(args.TypeToken, "pulumi:providers:"):
	case args.TypeToken == "tls:index/privateKey:PrivateKey":
		set("publicKeyOpenssh", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockMockMockMockMockMockMockMockMockMockMo mock")
		out["privateKeyOpenssh"] = resource.MakeSecret(resource.NewStringProperty("mock-openssh-private-key-of-" + args.Name))
		out["privateKeyPem"] = resource.MakeSecret(resource.NewStringProperty("mock-pem-private-key-of-" + args.Name))
	case args.TypeToken == "tls:index/selfSignedCert:SelfSignedCert":
		set("certPem", "mock-certificate-of-"+args.Name)
	case args.TypeToken == "tls:index/certRequest:CertRequest":
		set("certRequestPem", "mock-csr-of-"+args.Name)
	case args.TypeToken == "tls:index/locallySignedCert:LocallySignedCert":
		set("certPem", "mock-certificate-of-"+args.Name)
	case args.TypeToken == "random:index/randomPassword:RandomPassword":
		n := int(args.Inputs["length"].NumberValue())
		out["result"] = resource.MakeSecret(resource.NewStringProperty(strings.Repeat("x", n)))
	case args.TypeToken == "scaleway:network/publicGatewayIp:PublicGatewayIp":
		set("address", GatewayIP)
	case args.TypeToken == "scaleway:kubernetes/cluster:Cluster":
		set("apiserverUrl", "https://"+args.Name+".api.k8s.fr-par.scw.cloud:6443")
		out["kubeconfigs"] = resource.MakeSecret(resource.NewPropertyValue([]any{map[string]any{
			"configFile":           "apiVersion: v1\nkind: Config\nclusters: []\n",
			"host":                 "https://" + args.Name + ".api.k8s.fr-par.scw.cloud:6443",
			"token":                "mock-kubernetes-token",
			"clusterCaCertificate": "mock-ca",
		}}))
	case args.TypeToken == "gitlabwait:index:GitLabReady":
		set("readyAt", "2026-01-01T00:00:00Z")
		set("version", "18.5.1")
		set("bastionHostKeyFingerprint", "SHA256:mock")
	case args.TypeToken == "gitlabwait:index:GitLabConfigured":
		set("configuredAt", "2026-01-01T00:00:00Z")
		set("version", args.Inputs["packageVersion"].StringValue())
		set("previousVersion", "")
		set("sshHostKeyFingerprint", "SHA256:mock-gitlab-host")
		set("tokenExpiresAt", args.Inputs["adminTokenExpiresAt"].StringValue())
		set("bastionHostKeyFingerprint", "SHA256:mock")
	case args.TypeToken == "scaleway:object/bucket:Bucket":
		if _, ok := out["projectId"]; !ok {
			set("projectId", MockProjectID)
		}
		region := args.Inputs["region"].StringValue()
		set("apiEndpoint", "https://s3."+region+".scw.cloud")
		set("endpoint", "https://"+args.Inputs["name"].StringValue()+".s3."+region+".scw.cloud")
	case args.TypeToken == "scaleway:iam/apiKey:ApiKey":
		set("accessKey", MockBackupAccessKey)
		out["secretKey"] = resource.MakeSecret(resource.NewStringProperty(MockBackupSecretKey))
	case args.TypeToken == "gitlabwait:index:AgentConnected":
		set("connectedAt", "2026-01-01T00:10:00Z")
		set("connections", 2)
		set("agentVersion", "v18.5.1")
		set("bastionHostKeyFingerprint", "SHA256:mock")
	case args.TypeToken == "gitlab:index/project:Project":
		path := args.Inputs["path"].StringValue()
		set("pathWithNamespace", "root/"+path)
		set("webUrl", "https://10.0.0.10/root/"+path)
		set("defaultBranch", "main")
	case args.TypeToken == "gitlab:index/clusterAgent:ClusterAgent":
		set("agentId", 42)
	case args.TypeToken == "gitlab:index/clusterAgentToken:ClusterAgentToken":
		set("tokenId", 7)
		set("status", "active")
		out["token"] = resource.MakeSecret(resource.NewStringProperty(MockAgentToken))
	case args.TypeToken == "gitlab:index/deployToken:DeployToken":
		set("deployTokenId", 11)
		if _, ok := out["username"]; !ok {
			set("username", "gitlab+deploy-token-11")
		}
		out["token"] = resource.MakeSecret(resource.NewStringProperty(MockDeployToken))
	case args.TypeToken == "gitlab:index/userRunner:UserRunner":
		out["token"] = resource.MakeSecret(resource.NewStringProperty(MockRunnerToken))
	case args.TypeToken == "gitlab:index/repositoryFile:RepositoryFile":
		// commitId is the branch's head when read, lastCommitId the commit
		// that last wrote the file (GitLab lib/api/files.rb): they differ
		// once anything else was committed.
		set("commitId", "mock-head-of-the-branch")
		set("lastCommitId", "mock-commit-of-"+args.Name)
	case args.TypeToken == "gitlabwait:index:PipelineSucceeded":
		set("pipelineId", 99)
		set("webUrl", "https://10.0.0.10/root/kubernetes-agent/-/pipelines/99")
		set("status", "success")
		set("commitSha", "mock-commit-of-pipeline-file")
		set("finishedAt", "2026-01-01T00:20:00Z")
		set("bastionHostKeyFingerprint", "SHA256:mock")
	case args.TypeToken == "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization":
		out["status"] = resource.NewPropertyValue(map[string]any{"lastAppliedRevision": "main@sha1:0123456789abcdef"})
	case knownPlain[args.TypeToken]:
	default:
		return nil, fmt.Errorf("mockcloud: no mock for resource type %s (%s): add it to mockcloud", args.TypeToken, args.Name)
	}
	return out, nil
}

// knownPlain are the types whose mock outputs are their inputs.
var knownPlain = map[string]bool{
	"scaleway:network/vpc:Vpc":                                   true,
	"scaleway:network/privateNetwork:PrivateNetwork":             true,
	"scaleway:network/publicGateway:PublicGateway":               true,
	"scaleway:network/gatewayNetwork:GatewayNetwork":             true,
	"scaleway:ipam/ip:Ip":                                        true,
	"scaleway:block/volume:Volume":                               true,
	"scaleway:iam/application:Application":                       true,
	"scaleway:iam/policy:Policy":                                 true,
	"scaleway:iam/sshKey:SshKey":                                 true,
	"scaleway:instance/server:Server":                            true,
	"scaleway:instance/privateNic:PrivateNic":                    true,
	"scaleway:instance/securityGroup:SecurityGroup":              true,
	"scaleway:kubernetes/pool:Pool":                              true,
	"scaleway:kubernetes/acl:Acl":                                true,
	"kubernetes:core/v1:Namespace":                               true,
	"kubernetes:core/v1:Secret":                                  true,
	"kubernetes:core/v1:ServiceAccount":                          true,
	"kubernetes:rbac.authorization.k8s.io/v1:Role":               true,
	"kubernetes:rbac.authorization.k8s.io/v1:RoleBinding":        true,
	"kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": true,
	"kubernetes:rbac.authorization.k8s.io/v1:ClusterRole":        true,
	"kubernetes:helm.sh/v3:Release":                              true,
	"kubernetes:source.toolkit.fluxcd.io/v1:GitRepository":       true,
}

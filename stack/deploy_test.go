package stack_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/cloudinit"
	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	operatorKey  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGr6yqJ3+7sS0dC2m6hKYxA4nYqkq9d0m6Qm9ZzXqW3j operator@example"
	rootPassword = "correct horse battery staple"
)

// fullConfig sets every optional key, so every optional resource exists.
func fullConfig() map[string]string {
	return map[string]string{
		"network:sshPublicKey":    operatorKey,
		"network:allowedIpRanges": mockcloud.List("51.15.100.0/24"),
		"gitlabHost:rootPassword": rootPassword,
		"kapsule:apiAllowedCidrs": mockcloud.List("51.15.100.0/24", "51.15.7.7/32"),
	}
}

type result struct {
	cloud   *mockcloud.Cloud
	outputs map[string]internals.UnsafeAwaitOutputResult
}

// run runs the whole program under the mocks and awaits every stack output.
func run(t *testing.T, config map[string]string) (result, error) {
	t.Helper()
	var mu sync.Mutex
	outputs := map[string]internals.UnsafeAwaitOutputResult{}
	cloud, err := mockcloud.Run("dev", config, []string{"gitlabHost:rootPassword"}, func(ctx *pulumi.Context) error {
		outs, err := stack.Build(ctx)
		if err != nil {
			return err
		}
		for name, v := range outs {
			r, err := internals.UnsafeAwaitOutput(ctx.Context(), pulumi.ToOutput(v))
			if err != nil {
				return fmt.Errorf("await %s: %w", name, err)
			}
			mu.Lock()
			outputs[string(name)] = r
			mu.Unlock()
		}
		return nil
	})
	return result{cloud: cloud, outputs: outputs}, err
}

func mustRun(t *testing.T, config map[string]string) result {
	t.Helper()
	r, err := run(t, config)
	require.NoError(t, err)
	return r
}

func one(t *testing.T, c *mockcloud.Cloud, token string) mockcloud.Resource {
	t.Helper()
	rs := c.OfType(token)
	require.Len(t, rs, 1, "exactly one %s", token)
	return rs[0]
}

// named returns the registration with that logical name.
func named(t *testing.T, c *mockcloud.Cloud, name string) mockcloud.Resource {
	t.Helper()
	r, ok := c.Named(name)
	require.True(t, ok, "no resource named %s", name)
	return r
}

func str(t *testing.T, r mockcloud.Resource, key string) string {
	t.Helper()
	v, ok := r.Inputs[resource.PropertyKey(key)]
	require.True(t, ok, "%s %s has no input %q", r.Type, r.Name, key)
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	require.True(t, v.IsString(), "%s.%s is %v", r.Name, key, v)
	return v.StringValue()
}

func TestProgramCreatesTheExpectedResources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config map[string]string
		want   map[string]int
	}{
		{"defaults", nil, map[string]int{
			"scaleway:iam/sshKey:SshKey": 1, "scaleway:kubernetes/acl:Acl": 0, "random:index/randomPassword:RandomPassword": 2,
			"tls:index/privateKey:PrivateKey": 3, "tls:index/selfSignedCert:SelfSignedCert": 1,
			"tls:index/certRequest:CertRequest": 1, "tls:index/locallySignedCert:LocallySignedCert": 1,
		}},
		{"every option", fullConfig(), map[string]int{
			"scaleway:iam/sshKey:SshKey": 2, "scaleway:kubernetes/acl:Acl": 1, "random:index/randomPassword:RandomPassword": 1,
			"tls:index/privateKey:PrivateKey": 3, "tls:index/selfSignedCert:SelfSignedCert": 1,
			"tls:index/certRequest:CertRequest": 1, "tls:index/locallySignedCert:LocallySignedCert": 1,
		}},
		{"without TLS", map[string]string{"gitlabHost:tls": "false"}, map[string]int{
			"scaleway:iam/sshKey:SshKey": 1, "scaleway:kubernetes/acl:Acl": 0, "random:index/randomPassword:RandomPassword": 2,
			"tls:index/privateKey:PrivateKey": 1,
			"kubernetes:core/v1:Secret":       1 + 1 + 1, // the runner needs no CA
		}},
		{"without the runner", map[string]string{"runner:enabled": "false"}, map[string]int{
			"scaleway:iam/sshKey:SshKey": 1, "scaleway:kubernetes/acl:Acl": 0, "random:index/randomPassword:RandomPassword": 2,
			"tls:index/privateKey:PrivateKey": 3, "tls:index/selfSignedCert:SelfSignedCert": 1,
			"tls:index/certRequest:CertRequest": 1, "tls:index/locallySignedCert:LocallySignedCert": 1,
			"gitlab-kapsule:index:Runner": 0, "gitlab-kapsule:index:CIPipeline": 0, "gitlab:index/userRunner:UserRunner": 0,
			"gitlabwait:index:PipelineSucceeded": 0, "kubernetes:core/v1:ServiceAccount": 0,
			"gitlab:index/repositoryFile:RepositoryFile": 1 + 3, "kubernetes:core/v1:Namespace": 2 + 1, "kubernetes:core/v1:Secret": 1 + 1,
			"kubernetes:rbac.authorization.k8s.io/v1:Role": 2 + 1, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 2 + 1,
			"kubernetes:helm.sh/v3:Release": 1 + 1,
		}},
		{"without the GitOps demo", map[string]string{"gitops:enabled": "false"}, map[string]int{
			"scaleway:iam/sshKey:SshKey": 1, "scaleway:kubernetes/acl:Acl": 0, "random:index/randomPassword:RandomPassword": 2,
			"tls:index/privateKey:PrivateKey": 3, "tls:index/selfSignedCert:SelfSignedCert": 1,
			"tls:index/certRequest:CertRequest": 1, "tls:index/locallySignedCert:LocallySignedCert": 1,
			"gitlab:index/repositoryFile:RepositoryFile": 1 + 1, "kubernetes:core/v1:Namespace": 2 + 1, "kubernetes:core/v1:Secret": 1 + 2,
			"kubernetes:rbac.authorization.k8s.io/v1:Role": 2 + 1, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 2 + 1,
			"kubernetes:helm.sh/v3:Release": 1 + 1, "gitlab-kapsule:index:GitOpsDemo": 0, "gitlab:index/deployToken:DeployToken": 0,
			"kubernetes:source.toolkit.fluxcd.io/v1:GitRepository": 0, "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization": 0,
			"gitlab-kapsule:index:Flux": 0, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": 0,
			"kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": 0,
		}},
	}
	always := map[string]int{
		"gitlab-kapsule:index:Network": 1, "gitlab-kapsule:index:GitLabHost": 1, "gitlab-kapsule:index:Kapsule": 1,
		"tls:index/privateKey:PrivateKey":                  1,
		"scaleway:network/vpc:Vpc":                         1,
		"scaleway:network/privateNetwork:PrivateNetwork":   1,
		"scaleway:network/publicGatewayIp:PublicGatewayIp": 1,
		"scaleway:network/publicGateway:PublicGateway":     1,
		"scaleway:network/gatewayNetwork:GatewayNetwork":   1,
		"scaleway:ipam/ip:Ip":                              1,
		"scaleway:instance/securityGroup:SecurityGroup":    1,
		"scaleway:instance/server:Server":                  1,
		"scaleway:instance/privateNic:PrivateNic":          1,
		"gitlabwait:index:GitLabConfigured":                1,
		// GitLab's data volume, and the backups (components/backups.go):
		// the bucket, the host's IAM application, its policy and key.
		"scaleway:block/volume:Volume":         1,
		"gitlab-kapsule:index:Backups":         1,
		"scaleway:object/bucket:Bucket":        1,
		"scaleway:iam/application:Application": 1,
		"scaleway:iam/policy:Policy":           1,
		"scaleway:iam/apiKey:ApiKey":           1,
		"scaleway:kubernetes/cluster:Cluster":  1,
		"scaleway:kubernetes/pool:Pool":        1,
		"pulumi:providers:kubernetes":          1,
		// The agent (components/agent.go): GitLab side, cluster side, the wait.
		"gitlab-kapsule:index:Agent":                          1,
		"pulumi:providers:gitlab":                             1,
		"gitlab:index/project:Project":                        1,
		"gitlab:index/repositoryFile:RepositoryFile":          1 + 3 + 1,
		"gitlab:index/clusterAgent:ClusterAgent":              1,
		"gitlab:index/clusterAgentToken:ClusterAgentToken":    1,
		"kubernetes:core/v1:Namespace":                        2 + 1 + 1,
		"kubernetes:core/v1:Secret":                           1 + 1 + 2,
		"kubernetes:rbac.authorization.k8s.io/v1:Role":        2 + 1 + 1,
		"kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 2 + 1 + 1,
		"kubernetes:helm.sh/v3:Release":                       1 + 1 + 1,
		"gitlabwait:index:AgentConnected":                     1,
		// The runner (components/runner.go), the last "+ n" above: its
		// namespace, token and CA Secrets, Role, release, and these; and the
		// demo pipeline (components/pipeline.go): its CI file and the wait.
		"gitlab-kapsule:index:Runner":        1,
		"gitlab:index/userRunner:UserRunner": 1,
		"kubernetes:core/v1:ServiceAccount":  2,
		"gitlab-kapsule:index:CIPipeline":    1,
		"gitlabwait:index:PipelineSucceeded": 1,
		// The GitOps demo (components/gitopsdemo.go), the "+ n" above: three
		// manifests, Flux's namespace, its release, the token Secret, agentk's
		// receiver Role, and these.
		"gitlab-kapsule:index:GitOpsDemo":                         1,
		"gitlab:index/deployToken:DeployToken":                    1,
		"kubernetes:source.toolkit.fluxcd.io/v1:GitRepository":    1,
		"kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization": 1,
		// Flux (components/flux.go), installed before agentk, with the
		// cluster-wide read agentk's Flux module needs.
		"gitlab-kapsule:index:Flux":                                  1,
		"kubernetes:rbac.authorization.k8s.io/v1:ClusterRole":        1,
		"kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": 1,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustRun(t, tt.config)
			counts := map[string]int{}
			for _, res := range r.cloud.Resources() {
				counts[res.Type]++
			}
			want := map[string]int{}
			for k, v := range always {
				want[k] = v
			}
			for k, v := range tt.want {
				if v == 0 {
					delete(want, k)
					continue
				}
				want[k] = v
			}
			assert.Equal(t, want, counts)
		})
	}
}

func TestComponentsHandOutputsToEachOther(t *testing.T) {
	t.Parallel()
	r := mustRun(t, fullConfig())
	c := r.cloud
	pn := one(t, c, "scaleway:network/privateNetwork:PrivateNetwork")
	ipamIP := one(t, c, "scaleway:ipam/ip:Ip")
	server := one(t, c, "scaleway:instance/server:Server")
	nic := one(t, c, "scaleway:instance/privateNic:PrivateNic")
	ready := one(t, c, "gitlabwait:index:GitLabConfigured")
	cluster := one(t, c, "scaleway:kubernetes/cluster:Cluster")
	gwNet := one(t, c, "scaleway:network/gatewayNetwork:GatewayNetwork")
	pool := one(t, c, "scaleway:kubernetes/pool:Pool")

	assert.Equal(t, pn.ID, str(t, cluster, "privateNetworkId"), "Kapsule joins the Network's private network")
	assert.Equal(t, pn.ID, str(t, nic, "privateNetworkId"))
	assert.Equal(t, pn.ID, str(t, gwNet, "privateNetworkId"))
	assert.Equal(t, "10.0.0.10", str(t, ipamIP, "address"))
	assert.Equal(t, []resource.PropertyValue{resource.NewStringProperty(ipamIP.ID)}, nic.Inputs["ipamIpIds"].ArrayValue(), "the NIC takes the reserved address")
	assert.Equal(t, server.ID, str(t, nic, "serverId"))
	assert.Equal(t, "10.0.0.10", str(t, ready, "targetHost"))
	assert.Equal(t, mockcloud.GatewayIP, str(t, ready, "bastionHost"))
	assert.Equal(t, server.ID, str(t, ready, "instanceId"), "a replaced instance is configured again")
	data := one(t, c, "scaleway:block/volume:Volume")
	assert.Equal(t, data.ID, str(t, ready, "dataVolumeId"), "the host mounts its data volume")
	assert.Equal(t, []resource.PropertyValue{resource.NewStringProperty(data.ID)}, server.Inputs["additionalVolumeIds"].ArrayValue(), "attached to the server")
	assert.Equal(t, cluster.ID, str(t, pool, "clusterId"))

	assert.Equal(t, "grpcs://10.0.0.10:8150", r.outputs["kasAddress"].Value, "the KAS URL carries the reserved address, over TLS")
	assert.Equal(t, "https://10.0.0.10", r.outputs["gitlabUrl"].Value)
	assert.Equal(t, "bastion@"+mockcloud.GatewayIP+":61000", r.outputs["bastion"].Value)
	assert.Equal(t, "ssh -J bastion@"+mockcloud.GatewayIP+":61000 root@glk-dev-gitlab.glk-dev-pn.internal", r.outputs["sshCommand"].Value)
}

func TestNothingWaitsWithoutAReason(t *testing.T) {
	t.Parallel()
	c := mustRun(t, nil).cloud
	dependsOn := func(r mockcloud.Resource, on mockcloud.Resource) bool {
		for _, d := range r.Dependencies {
			if d == on.URN {
				return true
			}
		}
		return false
	}
	ipamIP := one(t, c, "scaleway:ipam/ip:Ip")
	gwNet := one(t, c, "scaleway:network/gatewayNetwork:GatewayNetwork")
	nic := one(t, c, "scaleway:instance/privateNic:PrivateNic")
	ready := one(t, c, "gitlabwait:index:GitLabConfigured")
	pool := one(t, c, "scaleway:kubernetes/pool:Pool")
	cluster := one(t, c, "scaleway:kubernetes/cluster:Cluster")
	server := one(t, c, "scaleway:instance/server:Server")

	assert.True(t, dependsOn(gwNet, ipamIP), "GitLab's address is reserved before the gateway joins the network")
	assert.True(t, dependsOn(ready, nic), "the configuration waits for GitLab's NIC")
	assert.True(t, dependsOn(ready, gwNet), "it goes through the bastion, which needs the gateway network")
	assert.True(t, dependsOn(pool, gwNet), "private nodes need the gateway's route out")
	assert.False(t, dependsOn(cluster, ready), "the cluster is created while GitLab boots")
	assert.False(t, dependsOn(pool, ready))
	assert.False(t, dependsOn(server, gwNet), "the server boots while the gateway attaches; its first boot waits for the route")
}

func TestNoPublicAddressOnGitLabOrNodes(t *testing.T) {
	t.Parallel()
	c := mustRun(t, nil).cloud
	server := one(t, c, "scaleway:instance/server:Server")
	for _, key := range []resource.PropertyKey{"ipId", "ipIds", "publicIps"} {
		_, has := server.Inputs[key]
		assert.False(t, has, "the GitLab server must not get %s", key)
	}
	assert.False(t, server.Inputs["enableDynamicIp"].BoolValue())
	pool := one(t, c, "scaleway:kubernetes/pool:Pool")
	assert.True(t, pool.Inputs["publicIpDisabled"].BoolValue(), "nodes have no public address")

	sg := one(t, c, "scaleway:instance/securityGroup:SecurityGroup")
	assert.Equal(t, "drop", str(t, sg, "inboundDefaultPolicy"))
	assert.Equal(t, "accept", str(t, sg, "outboundDefaultPolicy"))
	_, hasRules := sg.Inputs["inboundRules"]
	assert.False(t, hasRules, "no inbound rule opens anything")
	assert.Equal(t, sg.ID, str(t, server, "securityGroupId"))
}

func TestGatewayAndCluster(t *testing.T) {
	t.Parallel()
	c := mustRun(t, fullConfig()).cloud
	gw := one(t, c, "scaleway:network/publicGateway:PublicGateway")
	assert.Equal(t, "VPC-GW-S", str(t, gw, "type"))
	assert.True(t, gw.Inputs["bastionEnabled"].BoolValue())
	assert.Equal(t, 61000.0, gw.Inputs["bastionPort"].NumberValue())
	assert.Equal(t, []resource.PropertyValue{resource.NewStringProperty("51.15.100.0/24")}, gw.Inputs["allowedIpRanges"].ArrayValue())
	auto, _ := c.Named("network-automation-ssh-key")
	operator, _ := c.Named("network-operator-ssh-key")
	assert.Equal(t, auto.ID+","+operator.ID, str(t, gw, "refreshSshKeys"), "a new key set refreshes the bastion")

	gwNet := one(t, c, "scaleway:network/gatewayNetwork:GatewayNetwork")
	assert.True(t, gwNet.Inputs["enableMasquerade"].BoolValue())
	ipam := gwNet.Inputs["ipamConfigs"].ArrayValue()
	require.Len(t, ipam, 1)
	assert.True(t, ipam[0].ObjectValue()["pushDefaultRoute"].BoolValue())

	cluster := one(t, c, "scaleway:kubernetes/cluster:Cluster")
	assert.True(t, cluster.Inputs["deleteAdditionalResources"].BoolValue())
	assert.Equal(t, "1.36", str(t, cluster, "version"), "a minor: Scaleway applies patches")
	upgrade := cluster.Inputs["autoUpgrade"].ObjectValue()
	assert.True(t, upgrade["enable"].BoolValue(), "a minor version turns auto-upgrade on, as the provider requires")
	assert.Equal(t, "cilium", str(t, cluster, "cni"))

	acl := one(t, c, "scaleway:kubernetes/acl:Acl")
	var ips []string
	for _, rule := range acl.Inputs["aclRules"].ArrayValue() {
		ips = append(ips, rule.ObjectValue()["ip"].StringValue())
	}
	assert.Equal(t, []string{mockcloud.GatewayIP + "/32", "51.15.100.0/24", "51.15.7.7/32"}, ips)
}

func TestEveryCustomResourceBelongsToAComponent(t *testing.T) {
	t.Parallel()
	c := mustRun(t, fullConfig()).cloud
	for _, r := range c.Resources() {
		if !r.Custom {
			continue
		}
		parent, ok := c.ByURN(r.Parent)
		require.True(t, ok, "%s %s has no component parent (parent %q)", r.Type, r.Name, r.Parent)
		assert.True(t, strings.HasPrefix(parent.Type, "gitlab-kapsule:index:"), "%s is parented to %s", r.Name, parent.Type)
	}
}

func TestSecretsStaySecret(t *testing.T) {
	t.Parallel()
	r := mustRun(t, fullConfig())
	c := r.cloud

	configured := one(t, c, "gitlabwait:index:GitLabConfigured")
	for _, key := range []resource.PropertyKey{"rootPassword", "adminToken", "tlsKey", "privateKey"} {
		require.True(t, configured.Inputs[key].IsSecret(), "GitLabConfigured's %s is a secret", key)
	}
	assert.Equal(t, rootPassword, str(t, configured, "rootPassword"), "the configured password reaches the host, over SSH")
	backup := configured.Inputs["backup"].ObjectValue()
	require.True(t, backup["secretKey"].IsSecret(), "the bucket's secret key is a secret")
	assert.Equal(t, mockcloud.MockBackupSecretKey, backup["secretKey"].SecretValue().Element.StringValue())
	gitlabProvider := one(t, c, "pulumi:providers:gitlab")
	assert.Equal(t, str(t, configured, "adminToken"), str(t, gitlabProvider, "token"), "GitLab's provider uses the very token the host installs")

	for _, name := range []string{"kubeconfig", "gitlabRootPassword"} {
		assert.True(t, r.outputs[name].Secret, "output %s must be secret", name)
	}
	for name, out := range r.outputs {
		if out.Secret {
			continue
		}
		plain, _ := json.Marshal(out.Value)
		for _, secret := range []string{rootPassword, "glk-xxxx", "mock-openssh-private-key", "mock-kubernetes-token", mockcloud.MockBackupSecretKey} {
			assert.NotContains(t, string(plain), secret, "plain output %s leaks a secret", name)
		}
	}
}

// The metadata service serves user-data to anything on the host for its
// whole life: it carries none of the secrets, and nothing that changes.
func TestUserDataCarriesNoSecret(t *testing.T) {
	t.Parallel()
	for _, cfg := range []map[string]string{fullConfig(), nil, {"gitlabHost:tls": "false"}} {
		r := mustRun(t, cfg)
		server := one(t, r.cloud, "scaleway:instance/server:Server")
		userData := str(t, server, "cloudInit")
		want, err := cloudinit.UserData()
		require.NoError(t, err)
		assert.Equal(t, want, userData, "the same user-data whatever the configuration")
		configured := one(t, r.cloud, "gitlabwait:index:GitLabConfigured")
		for _, secret := range []string{rootPassword, strings.Repeat("x", 32), str(t, configured, "adminToken"), "mock-pem-private-key", mockcloud.MockBackupSecretKey} {
			assert.NotContains(t, userData, secret)
		}
	}
}

func TestGeneratedPasswordIsSecret(t *testing.T) {
	t.Parallel()
	r := mustRun(t, nil)
	assert.True(t, r.outputs["gitlabRootPassword"].Secret)
	configured := one(t, r.cloud, "gitlabwait:index:GitLabConfigured")
	assert.True(t, configured.Inputs["rootPassword"].IsSecret())
	assert.Equal(t, strings.Repeat("x", 32), str(t, configured, "rootPassword"), "the generated password reaches the host")
}

func TestBadConfigurationCreatesNothing(t *testing.T) {
	t.Parallel()
	r, err := run(t, map[string]string{
		"network:cidr":            "10.0.0.0/30",
		"gitlabHost:instanceType": "DEV1-S",
		"gitlabHost:rootPassword": "short",
	})
	require.Error(t, err)
	for _, key := range []string{"network:cidr", "gitlabHost:instanceType", "gitlabHost:rootPassword"} {
		assert.Contains(t, err.Error(), key)
	}
	assert.Empty(t, r.cloud.Resources(), "validation runs before any resource")
}

// The ranges Kapsule keeps are declared by the Kapsule component, and the
// configuration is judged against them before anything is created.
func TestNetworkMustLeaveKapsulesRangesAlone(t *testing.T) {
	t.Parallel()
	r, err := run(t, map[string]string{"network:cidr": "10.32.0.0/24"})
	require.ErrorContains(t, err, `network:cidr "10.32.0.0/24" overlaps Kapsule's service range 10.32.0.0/20`)
	assert.Empty(t, r.cloud.Resources())
	assert.Len(t, components.KapsuleReservedRanges, 2, "services and pods")
}

func TestUnreadableConfigurationNamesTheKey(t *testing.T) {
	t.Parallel()
	_, err := run(t, map[string]string{"kapsule:size": "two", "network:allowedIpRanges": "51.15.100.0/24"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kapsule:size must be a whole number")
	assert.Contains(t, err.Error(), "network:allowedIpRanges must be a list")
}

func TestTLSByDefault(t *testing.T) {
	t.Parallel()
	r := mustRun(t, nil)
	c := r.cloud
	ca := one(t, c, "tls:index/selfSignedCert:SelfSignedCert")
	assert.True(t, ca.Inputs["isCaCertificate"].BoolValue())
	csr := one(t, c, "tls:index/certRequest:CertRequest")
	var ips, names []string
	for _, v := range csr.Inputs["ipAddresses"].ArrayValue() {
		ips = append(ips, v.StringValue())
	}
	for _, v := range csr.Inputs["dnsNames"].ArrayValue() {
		names = append(names, v.StringValue())
	}
	assert.Equal(t, []string{"10.0.0.10", "127.0.0.1"}, ips, "the private address, and the tunnel's end")
	assert.Equal(t, []string{"glk-dev-gitlab.glk-dev-pn.internal", "localhost"}, names)

	ready := one(t, c, "gitlabwait:index:GitLabConfigured")
	assert.Equal(t, "https", str(t, ready, "scheme"))
	assert.Equal(t, 443.0, ready.Inputs["targetPort"].NumberValue())
	caPEM := "mock-certificate-of-gitlab-ca"
	assert.Equal(t, caPEM, str(t, ready, "caCert"), "readiness trusts the private CA")
	assert.Equal(t, caPEM, r.outputs["gitlabCaCert"].Value)

	assert.Equal(t, "mock-pem-private-key-of-gitlab-tls-key", str(t, ready, "tlsKey"), "the key reaches the host over SSH, as a secret")
	assert.Equal(t, "mock-certificate-of-gitlab-tls-cert", str(t, ready, "tlsCert"))
	assert.Contains(t, str(t, ready, "gitlabRb"), "'grpcs://10.0.0.10:8150'")
	for name, out := range r.outputs {
		if !out.Secret {
			assert.NotContains(t, fmt.Sprint(out.Value), "mock-pem-private-key", "plain output %s leaks a private key", name)
		}
	}
}

func TestPlainTransportWhenTLSIsOff(t *testing.T) {
	t.Parallel()
	r := mustRun(t, map[string]string{"gitlabHost:tls": "false"})
	assert.Equal(t, "grpc://10.0.0.10:8150", r.outputs["kasAddress"].Value)
	assert.Equal(t, "http://10.0.0.10", r.outputs["gitlabUrl"].Value)
	assert.Equal(t, "", r.outputs["gitlabCaCert"].Value)
	ready := one(t, r.cloud, "gitlabwait:index:GitLabConfigured")
	assert.Equal(t, "http", str(t, ready, "scheme"))
	assert.Equal(t, 80.0, ready.Inputs["targetPort"].NumberValue())
}

// A replaced server would otherwise be created while the old one still
// holds the data volume, which attaches to one server at a time.
func TestDataVolumeMovesToAReplacedServer(t *testing.T) {
	t.Parallel()
	c := mustRun(t, nil).cloud
	server := one(t, c, "scaleway:instance/server:Server")
	assert.True(t, server.DeleteBeforeReplace, "the old server goes first, freeing the data volume")
	data := one(t, c, "scaleway:block/volume:Volume")
	assert.True(t, data.RetainOnDelete, "the data volume outlives the stack by default")
	assert.False(t, one(t, mustRun(t, map[string]string{"gitlabHost:retainDataVolume": "false"}).cloud, "scaleway:block/volume:Volume").RetainOnDelete)
}

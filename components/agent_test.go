package components

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/cleanup"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/tunnel"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// keyList reads a testdata key list: one dotted path a line, # comments.
func keyList(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	keys := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			keys[line] = true
		}
	}
	require.NoError(t, sc.Err())
	return keys
}

// flatten lists the dotted key paths of a decoded YAML or JSON document,
// marking list items with "[]".
func flatten(prefix string, v any, out map[string]bool) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			out[join(k)] = true
			flatten(join(k), sub, out)
		}
	case []any:
		out[prefix+"[]"] = true
		for _, item := range v {
			flatten(prefix+"[]", item, out)
		}
	}
}

// flattenValues lists the leaf key paths of Helm values given as a pulumi.Map.
func flattenValues(prefix string, m pulumi.Map, out map[string]bool) {
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if sub, ok := v.(pulumi.Map); ok {
			flattenValues(path, sub, out)
			continue
		}
		out[path] = true
	}
}

// unknownKeys returns the keys of got that schema lacks, sorted.
func unknownKeys(got, schema map[string]bool) []string {
	var bad []string
	for k := range got {
		if !schema[k] {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}

func configKeys(t *testing.T, doc string) map[string]bool {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &v))
	keys := map[string]bool{}
	flatten("", v, keys)
	return keys
}

func TestAgentConfigUsesOnlySchemaKeys(t *testing.T) {
	t.Parallel()
	schema := keyList(t, "testdata/agent-config-keys.txt")
	doc, err := RenderAgentConfig("root/kubernetes-agent", []string{"gitops-demo", "other"}, config.FluxNamespace)
	require.NoError(t, err)
	assert.Empty(t, unknownKeys(configKeys(t, doc), schema), "the generated config.yaml:\n%s", doc)

	var parsed AgentConfigFile
	require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &parsed))
	assert.Equal(t, []AgentCIProject{{ID: "root/kubernetes-agent", DefaultNamespace: "gitops-demo"}}, parsed.CIAccess.Projects,
		"CI jobs of the configuration project get the <project>:<agent> context, in the demo namespace by default")
	assert.Equal(t, ".gitlab/agents/kapsule/config.yaml", AgentConfigPath("kapsule"))
	assert.Equal(t, "http://webhook-receiver.flux-system.svc.cluster.local", parsed.Flux.WebhookReceiverURL,
		"in flux-system, GitLab's documented default")
	shared, err := RenderAgentConfig("root/kubernetes-agent", []string{"shop"}, config.FluxNamespace, "team/app")
	require.NoError(t, err)
	var withProjects AgentConfigFile
	require.NoError(t, yaml.Unmarshal([]byte(shared), &withProjects))
	assert.Equal(t, []AgentCIProject{{ID: "root/kubernetes-agent", DefaultNamespace: "shop"}, {ID: "team/app", DefaultNamespace: "shop"}},
		withProjects.CIAccess.Projects, "agent:ciAccessProjects adds projects after the configuration project")

	other, err := RenderAgentConfig("root/kubernetes-agent", nil, "flux")
	require.NoError(t, err)
	assert.Contains(t, other, "webhook_receiver_url: http://webhook-receiver.flux.svc.cluster.local", "the receiver follows Flux's namespace")

	// Negative controls: the removed keyword and a typo are caught.
	for _, bad := range []string{
		"gitops:\n  manifest_projects:\n  - id: root/demo\n",
		"ci_acess:\n  projects:\n  - id: root/demo\n",
		"ci_access:\n  projects:\n  - name: root/demo\n",
	} {
		assert.NotEmpty(t, unknownKeys(configKeys(t, bad), schema), "must be rejected:\n%s", bad)
	}
}

func TestAgentHelmValuesAreChartValues(t *testing.T) {
	t.Parallel()
	chart := keyList(t, "testdata/gitlab-agent-chart-values-keys.txt")
	set := map[string]bool{}
	flattenValues("", AgentHelmValues(pulumi.String("grpcs://10.0.0.10:8150"), pulumi.String("PEM"), "v18.5.1"), set)
	assert.Empty(t, unknownKeys(set, chart))
	for _, want := range []string{"config.kasAddress", "config.secretName", "config.kasCaCert", "rbac.create", "serviceAccount.create", "serviceAccount.name", "replicas", "image.tag"} {
		assert.True(t, set[want], "the values set %s", want)
	}
	assert.False(t, set["config.token"], "the token never goes into Helm values (they are stored in the release)")

	// Negative control: the proof of concept's values are not the chart's.
	poc := map[string]bool{}
	flattenValues("", pulumi.Map{"token": pulumi.String("x"), "kas": pulumi.Map{"url": pulumi.String("grpc://")}, "rbac": pulumi.Map{"clusterWide": pulumi.Bool(true)}}, poc)
	assert.Equal(t, []string{"kas.url", "rbac.clusterWide", "token"}, unknownKeys(poc, chart))
}

func TestAgentRBACIsNamespaced(t *testing.T) {
	t.Parallel()
	roles, bindings := AgentRBAC("gitlab-agent", []string{"gitops-demo", "web"})
	require.Len(t, roles, 3)
	require.Len(t, bindings, 3)
	var where []string
	for i, r := range roles {
		where = append(where, r.Namespace+"/"+r.Name)
		assert.Equal(t, r.Name, bindings[i].RoleRef.Name)
		assert.Equal(t, "Role", bindings[i].RoleRef.Kind, "never a ClusterRole")
		assert.Equal(t, r.Namespace, bindings[i].Namespace)
		for _, rule := range r.Rules {
			assert.NotContains(t, rule.APIGroups, "rbac.authorization.k8s.io", "the agent cannot grant itself more")
			assert.NotContains(t, rule.Verbs, "*")
			assert.NotContains(t, rule.Resources, "*")
		}
	}
	assert.Equal(t, []string{"gitlab-agent/gitlab-agent-self", "gitops-demo/gitlab-agent-deployer", "web/gitlab-agent-deployer"}, where)
}

// agentRun is one mock run of NewAgent with what it recorded.
type agentRun struct {
	cloud   *mockcloud.Cloud
	agent   *Agent
	tunnels []tunnel.Config
	caFiles map[string]string
	// tunnelCloser is what the test's OpenTunnel returns; cleanups is the
	// driver's list the program runs with, as deploy installs one.
	tunnelCloser *closeCounter
	cleanups     *cleanup.List
}

// closeCounter counts its Close calls.
type closeCounter struct{ closed atomic.Int32 }

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

const (
	testCA    = "-----BEGIN CERTIFICATE-----\nMOCKCA\n-----END CERTIFICATE-----\n"
	testAdmin = "glk-admin-token-for-tests"
	testKey   = "mock-bastion-key"
)

func runAgent(t *testing.T, change func(*AgentArgs)) (agentRun, error) {
	t.Helper()
	run := agentRun{caFiles: map[string]string{}, tunnelCloser: &closeCounter{}, cleanups: &cleanup.List{}}
	var mu sync.Mutex
	cloud, err := mockcloud.Run("dev", nil, nil, func(ctx *pulumi.Context) error {
		ctx = cleanup.With(ctx, run.cleanups)
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{Kubeconfig: pulumi.ToSecret(pulumi.String("kubeconfig")).(pulumi.StringOutput)})
		if err != nil {
			return err
		}
		args := &AgentArgs{
			Clusters: []AgentCluster{{
				Cluster: "kapsule", Name: "kapsule", Namespaces: []string{"gitops-demo"},
				KubernetesProvider: k8s, NodePoolID: pulumi.String("pool-id"),
			}},
			ChartVersion: "2.12.2", ImageTag: "v18.5.1", TunnelPort: 18443,
			TLS:                  true,
			GitLabURL:            pulumi.String("https://10.0.0.10"),
			PrivateIP:            pulumi.String("10.0.0.10"),
			KASAddress:           pulumi.String("grpcs://10.0.0.10:8150"),
			CACert:               pulumi.String(testCA),
			AdminToken:           pulumi.ToSecret(pulumi.String(testAdmin)).(pulumi.StringOutput),
			BastionHost:          pulumi.String(mockcloud.GatewayIP),
			BastionPort:          61000,
			AutomationPrivateKey: pulumi.ToSecret(pulumi.String(testKey)).(pulumi.StringOutput),
			OpenTunnel: func(c tunnel.Config) (io.Closer, error) {
				mu.Lock()
				defer mu.Unlock()
				run.tunnels = append(run.tunnels, c)
				return run.tunnelCloser, nil
			},
			WriteCACert: func(path string, pem []byte) error {
				mu.Lock()
				defer mu.Unlock()
				run.caFiles[path] = string(pem)
				return nil
			},
		}
		if change != nil {
			change(args)
		}
		a, err := NewAgent(ctx, "agent", args)
		run.agent = a
		return err
	})
	run.cloud = cloud
	return run, err
}

func one(t *testing.T, c *mockcloud.Cloud, token string) mockcloud.Resource {
	t.Helper()
	rs := c.OfType(token)
	require.Len(t, rs, 1, "exactly one %s", token)
	return rs[0]
}

// prop follows a dotted path of object keys through a resource's inputs.
func prop(t *testing.T, r mockcloud.Resource, path string) resource.PropertyValue {
	t.Helper()
	v := resource.NewObjectProperty(r.Inputs)
	for _, k := range strings.Split(path, ".") {
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		require.True(t, v.IsObject(), "%s: %s is not an object at %q", r.Name, path, k)
		var ok bool
		v, ok = v.ObjectValue()[resource.PropertyKey(k)]
		require.True(t, ok, "%s has no %s", r.Name, path)
	}
	return v
}

func plain(v resource.PropertyValue) resource.PropertyValue {
	if v.IsSecret() {
		return v.SecretValue().Element
	}
	return v
}

func TestAgentWiring(t *testing.T) {
	t.Parallel()
	run, err := runAgent(t, nil)
	require.NoError(t, err)
	c := run.cloud

	// The token GitLab issues reaches the cluster only as a secret, in the Secret the chart reads.
	secret := one(t, c, "kubernetes:core/v1:Secret")
	tok := prop(t, secret, "stringData.token")
	assert.True(t, tok.IsSecret() || secret.Inputs["stringData"].IsSecret(), "the agent token is a secret")
	assert.Equal(t, mockcloud.MockAgentToken, plain(tok).StringValue())
	assert.Equal(t, AgentTokenSecret, prop(t, secret, "metadata.name").StringValue())
	assert.Equal(t, "gitlab-agent", prop(t, secret, "metadata.namespace").StringValue())

	release := one(t, c, "kubernetes:helm.sh/v3:Release")
	assert.Equal(t, "grpcs://10.0.0.10:8150", plain(prop(t, release, "values.config.kasAddress")).StringValue(), "KAS address from GitLabHost")
	assert.Equal(t, testCA, plain(prop(t, release, "values.config.kasCaCert")).StringValue(), "agentk trusts the private CA")
	assert.Equal(t, AgentTokenSecret, plain(prop(t, release, "values.config.secretName")).StringValue())
	assert.False(t, plain(prop(t, release, "values.rbac.create")).BoolValue(), "no cluster-admin binding from the chart")
	assert.Equal(t, "v18.5.1", plain(prop(t, release, "values.image.tag")).StringValue())
	assert.Equal(t, 2.0, plain(prop(t, release, "values.replicas")).NumberValue())
	assert.Equal(t, AgentServiceAccount, plain(prop(t, release, "values.serviceAccount.name")).StringValue())
	assert.Equal(t, "gitlab-agent", prop(t, release, "chart").StringValue())
	assert.Equal(t, "2.12.2", prop(t, release, "version").StringValue())
	assert.Equal(t, AgentChartRepo, prop(t, release, "repositoryOpts.repo").StringValue())
	assert.Equal(t, "gitlab-agent", prop(t, release, "namespace").StringValue())
	for _, v := range release.Inputs["values"].ObjectValue() {
		assert.NotContains(t, fmt.Sprint(v), mockcloud.MockAgentToken, "the token is not a Helm value")
	}

	prov := one(t, c, "pulumi:providers:gitlab")
	assert.Equal(t, "https://127.0.0.1:18443/api/v4/", plain(prop(t, prov, "baseUrl")).StringValue(), "the provider goes through the tunnel")
	assert.True(t, prop(t, prov, "token").IsSecret())
	caPath := CACertPath(mockcloud.Project, "dev")
	assert.Equal(t, caPath, plain(prop(t, prov, "cacertFile")).StringValue())
	assert.Equal(t, map[string]string{caPath: testCA}, run.caFiles, "the provider's CA file holds GitLab's CA")
	require.Len(t, run.tunnels, 1)
	tun := run.tunnels[0]
	assert.Equal(t, tunnel.Config{LocalPort: 18443, BastionAddr: mockcloud.GatewayIP + ":61000", BastionUser: "bastion", PrivateKey: testKey, Target: "10.0.0.10:443"}, tun)

	file := one(t, c, "gitlab:index/repositoryFile:RepositoryFile")
	assert.Equal(t, ".gitlab/agents/kapsule/config.yaml", prop(t, file, "filePath").StringValue())
	assert.Equal(t, "main", prop(t, file, "branch").StringValue(), "the README made a default branch")
	assert.Contains(t, prop(t, file, "content").StringValue(), "id: root/kubernetes-agent")
	project := one(t, c, "gitlab:index/project:Project")
	assert.Equal(t, "private", prop(t, project, "visibilityLevel").StringValue())
	assert.True(t, prop(t, project, "initializeWithReadme").BoolValue())

	wait := one(t, c, "gitlabwait:index:AgentConnected")
	assert.Equal(t, "root/kubernetes-agent", prop(t, wait, "projectPath").StringValue())
	assert.Equal(t, "kapsule", prop(t, wait, "agentName").StringValue())
	assert.Equal(t, "7", prop(t, wait, "tokenId").StringValue(), "a new agent token waits again")
	assert.True(t, prop(t, wait, "token").IsSecret())
	assert.True(t, prop(t, wait, "privateKey").IsSecret())
	assert.Equal(t, "https", prop(t, wait, "scheme").StringValue())
	assert.Equal(t, testCA, prop(t, wait, "caCert").StringValue())
	assert.True(t, slices.Contains(wait.Dependencies, release.URN), "the wait starts once agentk is installed")
	assert.True(t, slices.Contains(release.Dependencies, secret.URN), "the release waits for its token Secret")
}

func TestAgentHasNoClusterAdminByDefault(t *testing.T) {
	t.Parallel()
	run, err := runAgent(t, nil)
	require.NoError(t, err)
	c := run.cloud
	assert.Empty(t, c.OfType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"))
	assert.Empty(t, c.OfType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"))
	var roles []string
	for _, r := range c.OfType("kubernetes:rbac.authorization.k8s.io/v1:Role") {
		roles = append(roles, prop(t, r, "metadata.namespace").StringValue()+"/"+prop(t, r, "metadata.name").StringValue())
	}
	sort.Strings(roles)
	assert.Equal(t, []string{"gitlab-agent/gitlab-agent-self", "gitops-demo/gitlab-agent-deployer"}, roles)
	for _, b := range c.OfType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding") {
		subjects := prop(t, b, "subjects").ArrayValue()
		require.Len(t, subjects, 1)
		s := subjects[0].ObjectValue()
		assert.Equal(t, "ServiceAccount", s["kind"].StringValue())
		assert.Equal(t, AgentServiceAccount, s["name"].StringValue())
		assert.Equal(t, "gitlab-agent", s["namespace"].StringValue())
	}
	var namespaces []string
	for _, n := range c.OfType("kubernetes:core/v1:Namespace") {
		namespaces = append(namespaces, prop(t, n, "metadata.name").StringValue())
	}
	sort.Strings(namespaces)
	assert.Equal(t, []string{"gitlab-agent", "gitops-demo"}, namespaces)
}

func TestAgentClusterAdminOnRequest(t *testing.T) {
	t.Parallel()
	run, err := runAgent(t, func(a *AgentArgs) { a.Clusters[0].ClusterAdmin = true })
	require.NoError(t, err)
	crb := one(t, run.cloud, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
	assert.Equal(t, "cluster-admin", prop(t, crb, "roleRef.name").StringValue())
	assert.Equal(t, "ClusterRole", prop(t, crb, "roleRef.kind").StringValue())
	s := prop(t, crb, "subjects").ArrayValue()[0].ObjectValue()
	assert.Equal(t, AgentServiceAccount, s["name"].StringValue())
	release := one(t, run.cloud, "kubernetes:helm.sh/v3:Release")
	assert.True(t, slices.Contains(release.Dependencies, crb.URN), "agentk starts with the rights it was given")
}

func TestAgentWithoutTLS(t *testing.T) {
	t.Parallel()
	run, err := runAgent(t, func(a *AgentArgs) {
		a.TLS, a.CACert = false, pulumi.String("")
		a.GitLabURL, a.KASAddress = pulumi.String("http://10.0.0.10"), pulumi.String("grpc://10.0.0.10:8150")
	})
	require.NoError(t, err)
	prov := one(t, run.cloud, "pulumi:providers:gitlab")
	assert.Equal(t, "http://127.0.0.1:18443/api/v4/", plain(prop(t, prov, "baseUrl")).StringValue())
	_, hasCA := prov.Inputs["cacertFile"]
	assert.False(t, hasCA)
	assert.Empty(t, run.caFiles)
	assert.Equal(t, "10.0.0.10:80", run.tunnels[0].Target)
	release := one(t, run.cloud, "kubernetes:helm.sh/v3:Release")
	assert.Equal(t, "grpc://10.0.0.10:8150", plain(prop(t, release, "values.config.kasAddress")).StringValue())
}

// The tunnel is released when the driver's operation ends, not before: the
// GitLab provider talks through it for the whole run.
func TestAgentTunnelIsClosedWhenTheOperationEnds(t *testing.T) {
	t.Parallel()
	run, err := runAgent(t, nil)
	require.NoError(t, err)
	require.Len(t, run.tunnels, 1)
	assert.Zero(t, run.tunnelCloser.closed.Load(), "open while the program runs")
	require.NoError(t, run.cleanups.Run())
	assert.EqualValues(t, 1, run.tunnelCloser.closed.Load(), "closed once when the operation ends")
}

func TestAgentTunnelFailureStopsTheRun(t *testing.T) {
	t.Parallel()
	_, err := runAgent(t, func(a *AgentArgs) {
		a.OpenTunnel = func(tunnel.Config) (io.Closer, error) { return nil, errors.New("cannot listen on 127.0.0.1:18443") }
	})
	require.ErrorContains(t, err, `agent "agent": ssh tunnel to GitLab: cannot listen on 127.0.0.1:18443`)
	assert.NotContains(t, err.Error(), testKey)
}

func TestAgentRequiresItsInputs(t *testing.T) {
	t.Parallel()
	cloud, err := mockcloud.Run("t", nil, nil, func(ctx *pulumi.Context) error {
		_, err := NewAgent(ctx, "a", &AgentArgs{TunnelPort: 18443})
		return err
	})
	require.ErrorContains(t, err, `agent "a": Clusters, TunnelPort`)
	assert.Empty(t, cloud.Resources())
}

func TestWriteFileIfChanged(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/sub/ca.pem"
	require.NoError(t, writeFileIfChanged(path, []byte("one")))
	require.NoError(t, writeFileIfChanged(path, []byte("one")))
	require.NoError(t, writeFileIfChanged(path, []byte("two")))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

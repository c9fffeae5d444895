package components

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi-gitlab/sdk/v6/go/gitlab"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// demoRun is one mock run of NewGitOpsDemo with its awaited outputs.
type demoRun struct {
	cloud   *mockcloud.Cloud
	outputs map[string]internals.UnsafeAwaitOutputResult
}

func runDemo(t *testing.T, change func(*GitOpsDemoArgs)) (demoRun, error) {
	t.Helper()
	run := demoRun{outputs: map[string]internals.UnsafeAwaitOutputResult{}}
	var mu sync.Mutex
	cloud, err := mockcloud.Run("dev", nil, nil, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{Kubeconfig: pulumi.ToSecret(pulumi.String("kubeconfig")).(pulumi.StringOutput)})
		if err != nil {
			return err
		}
		gl, err := gitlab.NewProvider(ctx, "gl", &gitlab.ProviderArgs{BaseUrl: pulumi.String("https://127.0.0.1:18443/api/v4/")})
		if err != nil {
			return err
		}
		project, err := gitlab.NewProject(ctx, "project", &gitlab.ProjectArgs{Path: pulumi.String(AgentProjectPath)}, pulumi.Provider(gl))
		if err != nil {
			return err
		}
		flux, err := NewFlux(ctx, "flux", &FluxArgs{KubernetesProvider: k8s, NodePoolID: pulumi.String("pool-id"), ChartVersion: "2.17.0"})
		if err != nil {
			return err
		}
		args := &GitOpsDemoArgs{
			GitLabProvider:     gl,
			Project:            project,
			GitLabURL:          pulumi.String("https://10.0.0.10"),
			TLS:                true,
			CACert:             pulumi.String(testCA),
			KubernetesProvider: k8s,
			Flux:               flux,
		}
		if change != nil {
			change(args)
		}
		demo, err := NewGitOpsDemo(ctx, "demo", args)
		if err != nil {
			return err
		}
		for name, out := range map[string]pulumi.Output{
			"namespace": demo.Namespace, "checkCommand": demo.CheckCommand, "cloneUrl": demo.CloneURL,
			"manifestsUrl": demo.ManifestsURL, "readyRevision": demo.ReadyRevision,
		} {
			r, err := internals.UnsafeAwaitOutput(ctx.Context(), out)
			if err != nil {
				return err
			}
			mu.Lock()
			run.outputs[name] = r
			mu.Unlock()
		}
		return nil
	})
	run.cloud = cloud
	return run, err
}

// kind returns the one custom resource of a Flux kind.
func kind(t *testing.T, c *mockcloud.Cloud, apiVersion, k string) mockcloud.Resource {
	t.Helper()
	return one(t, c, "kubernetes:"+apiVersion+":"+k)
}

// toGo turns a property value into plain Go values, secrets unwrapped.
func toGo(v resource.PropertyValue) any {
	return v.MapRepl(nil, func(v resource.PropertyValue) (any, bool) {
		if v.IsSecret() {
			return toGo(v.SecretValue().Element), true
		}
		return nil, false
	})
}

func TestGitOpsDemoWiring(t *testing.T) {
	t.Parallel()
	run, err := runDemo(t, nil)
	require.NoError(t, err)
	c := run.cloud
	gl := one(t, c, "pulumi:providers:gitlab")
	k8s := one(t, c, "pulumi:providers:kubernetes")
	project := one(t, c, "gitlab:index/project:Project")

	// GitLab side: every embedded manifest, in the agent's configuration project.
	files, err := DemoFiles(DemoRepoDir)
	require.NoError(t, err)
	committed := c.OfType("gitlab:index/repositoryFile:RepositoryFile")
	require.Len(t, committed, len(files))
	var paths []string
	for i, f := range committed {
		assert.Equal(t, gl.URN, f.Provider)
		assert.Equal(t, project.ID, prop(t, f, "project").StringValue())
		assert.Equal(t, "main", prop(t, f, "branch").StringValue())
		assert.Equal(t, files[i].Content, prop(t, f, "content").StringValue())
		paths = append(paths, prop(t, f, "filePath").StringValue())
	}
	assert.Equal(t, []string{"manifests/gitops-demo/deployment.yaml", "manifests/gitops-demo/kustomization.yaml", "manifests/gitops-demo/service.yaml"}, paths)

	token := one(t, c, "gitlab:index/deployToken:DeployToken")
	assert.Equal(t, gl.URN, token.Provider)
	assert.Equal(t, project.ID, prop(t, token, "project").StringValue())
	assert.Equal(t, []any{"read_repository"}, toGo(prop(t, token, "scopes")), "the token can clone and nothing else")

	// The deploy token reaches the cluster only as a secret.
	secret := one(t, c, "kubernetes:core/v1:Secret")
	assert.Equal(t, k8s.URN, secret.Provider)
	assert.Equal(t, DemoAuthSecret, prop(t, secret, "metadata.name").StringValue())
	assert.Equal(t, "flux-system", prop(t, secret, "metadata.namespace").StringValue())
	password := prop(t, secret, "stringData.password")
	assert.True(t, password.IsSecret() || secret.Inputs["stringData"].IsSecret(), "the deploy token is a secret")
	assert.Equal(t, mockcloud.MockDeployToken, plain(password).StringValue())
	assert.Equal(t, "flux-gitops-demo", plain(prop(t, secret, "stringData.username")).StringValue())
	assert.Equal(t, testCA, plain(plain(secret.Inputs["stringData"]).ObjectValue()["ca.crt"]).StringValue(), "source-controller trusts the private CA")

	// The GitRepository clones the project over the private address.
	repo := kind(t, c, GitRepositoryAPIVersion, "GitRepository")
	spec := toGo(prop(t, repo, "spec")).(map[string]any)
	assert.Equal(t, "https://10.0.0.10/root/kubernetes-agent.git", spec["url"])
	assert.Equal(t, map[string]any{"branch": "main"}, spec["ref"])
	assert.Equal(t, map[string]any{"name": DemoAuthSecret}, spec["secretRef"])
	assert.Equal(t, "condition=Ready", plain(prop(t, repo, "metadata.annotations")).ObjectValue()["pulumi.com/waitFor"].StringValue())

	sync := kind(t, c, KustomizationAPIVersion, "Kustomization")
	ks := toGo(prop(t, sync, "spec")).(map[string]any)
	assert.Equal(t, true, ks["prune"])
	assert.Equal(t, true, ks["wait"])
	assert.Equal(t, "./manifests/gitops-demo", ks["path"])
	assert.Equal(t, "5m", ks["timeout"])
	assert.NotContains(t, ks, "healthChecks", "Flux ignores healthChecks when wait is true: wait checks every applied object")
	annotations := plain(prop(t, sync, "metadata.annotations")).ObjectValue()
	assert.Equal(t, "condition=Ready", annotations["pulumi.com/waitFor"].StringValue(), "`up` ends only once the demo is applied and healthy")
	assert.Equal(t, "420", annotations["pulumi.com/timeoutSeconds"].StringValue())

	// Flux: only the three controllers, CRDs from the release, after the pool.
	release := one(t, c, "kubernetes:helm.sh/v3:Release")
	assert.Equal(t, FluxChart, prop(t, release, "chart").StringValue())
	assert.Equal(t, "2.17.0", prop(t, release, "version").StringValue())
	assert.Equal(t, FluxChartRepo, prop(t, release, "repositoryOpts.repo").StringValue())
	assert.Equal(t, "flux-system", prop(t, release, "namespace").StringValue())
	values := toGo(prop(t, release, "values")).(map[string]any)
	assert.Equal(t, FluxHelmValues(), values)

	// Order: the sync waits for its source, which waits for Flux, the Secret and the files.
	assert.True(t, slices.Contains(sync.Dependencies, repo.URN))
	for _, dep := range append([]mockcloud.Resource{release, secret}, committed...) {
		assert.True(t, slices.Contains(repo.Dependencies, dep.URN), "the GitRepository waits for %s", dep.Name)
	}

	// Only Flux's namespace is created: the demo's belongs to the Agent.
	namespaces := c.OfType("kubernetes:core/v1:Namespace")
	require.Len(t, namespaces, 1)
	assert.Equal(t, "flux-system", prop(t, namespaces[0], "metadata.name").StringValue())

	assert.Equal(t, "gitops-demo", run.outputs["namespace"].Value)
	assert.Equal(t, "kubectl -n gitops-demo get deploy,svc", run.outputs["checkCommand"].Value)
	assert.Equal(t, "https://10.0.0.10/root/kubernetes-agent.git", run.outputs["cloneUrl"].Value)
	assert.Equal(t, "https://10.0.0.10/root/kubernetes-agent/-/tree/main/manifests/gitops-demo", run.outputs["manifestsUrl"].Value)
	assert.Equal(t, "main@sha1:0123456789abcdef", run.outputs["readyRevision"].Value)

	// Nothing in plain text carries the deploy token.
	for _, r := range c.Resources() {
		for k, v := range r.Inputs {
			if v.IsSecret() || v.ContainsSecrets() {
				continue
			}
			raw, _ := json.Marshal(toGo(v))
			assert.NotContains(t, string(raw), mockcloud.MockDeployToken, "%s.%s leaks the deploy token", r.Name, k)
		}
	}
}

func TestGitOpsDemoWithoutTLS(t *testing.T) {
	t.Parallel()
	run, err := runDemo(t, func(a *GitOpsDemoArgs) {
		a.TLS = false
		a.GitLabURL = pulumi.String("http://10.0.0.10")
		a.CACert = pulumi.String("")
	})
	require.NoError(t, err)
	secret := one(t, run.cloud, "kubernetes:core/v1:Secret")
	data := plain(secret.Inputs["stringData"]).ObjectValue()
	assert.NotContains(t, data, resource.PropertyKey("ca.crt"), "no CA without TLS")
	assert.Contains(t, data, resource.PropertyKey("password"))
	repo := kind(t, run.cloud, GitRepositoryAPIVersion, "GitRepository")
	assert.Equal(t, "http://10.0.0.10/root/kubernetes-agent.git", toGo(prop(t, repo, "spec")).(map[string]any)["url"])
}

// agentk gets the receiver path in Flux's namespace and nothing that applies
// workloads: Flux applies the manifests, not agentk.
func TestGitOpsDemoGivesAgentkOnlyTheReceiverPath(t *testing.T) {
	t.Parallel()
	run, err := runDemo(t, nil)
	require.NoError(t, err)
	roles := run.cloud.OfType("kubernetes:rbac.authorization.k8s.io/v1:Role")
	require.Len(t, roles, 1)
	assert.Equal(t, "flux-system", prop(t, roles[0], "metadata.namespace").StringValue())
	raw, _ := json.Marshal(toGo(roles[0].Inputs["rules"]))
	for _, never := range []string{"apps", "deployments", "rbac.authorization.k8s.io", "kustomizations", `"*"`} {
		assert.NotContains(t, string(raw), never)
	}
	binding := one(t, run.cloud, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
	assert.Equal(t, []any{map[string]any{"kind": "ServiceAccount", "name": AgentServiceAccount, "namespace": "gitlab-agent"}}, toGo(binding.Inputs["subjects"]))

	// Cluster-wide, only what agentk's Flux module reads at start and
	// watches: Flux's two CRDs by name, GitRepositories and Receivers.
	clusterRole := one(t, run.cloud, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
	assert.Equal(t, []any{
		map[string]any{"apiGroups": []any{"apiextensions.k8s.io"}, "resources": []any{"customresourcedefinitions"}, "resourceNames": []any{"gitrepositories.source.toolkit.fluxcd.io", "receivers.notification.toolkit.fluxcd.io"}, "verbs": []any{"get"}},
		map[string]any{"apiGroups": []any{"source.toolkit.fluxcd.io"}, "resources": []any{"gitrepositories"}, "verbs": []any{"get", "list", "watch"}},
		map[string]any{"apiGroups": []any{"notification.toolkit.fluxcd.io"}, "resources": []any{"receivers"}, "verbs": []any{"get", "list", "watch"}},
	}, toGo(clusterRole.Inputs["rules"]))
	clusterBinding := one(t, run.cloud, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
	assert.Equal(t, toGo(binding.Inputs["subjects"]), toGo(clusterBinding.Inputs["subjects"]))
}

func TestGitOpsDemoRequiresItsInputs(t *testing.T) {
	t.Parallel()
	cloud, err := mockcloud.Run("t", nil, nil, func(ctx *pulumi.Context) error {
		_, err := NewGitOpsDemo(ctx, "demo", &GitOpsDemoArgs{})
		return err
	})
	require.ErrorContains(t, err, `gitops demo "demo": GitLabProvider, Project, GitLabURL, KubernetesProvider and Flux are required`)
	assert.Empty(t, cloud.Resources())

	_, err = runDemo(t, func(a *GitOpsDemoArgs) { a.CACert = nil })
	require.ErrorContains(t, err, "CACert is missing")
	_, err = runDemo(t, func(a *GitOpsDemoArgs) { a.Timeout = -5 * time.Minute })
	require.ErrorContains(t, err, "Timeout -5m0s must be positive")
}

func TestFluxSyncRendersCurrentAPIs(t *testing.T) {
	t.Parallel()
	objs := FluxSync{URL: "https://10.0.0.10/root/p.git", Branch: "main", Namespace: "flux-system", DemoNamespace: "gitops-demo",
		Interval: time.Minute, Timeout: 90 * time.Second}.Objects()
	require.Len(t, objs, 2)
	// Flux's specs get the durations as a person writes them.
	assert.Equal(t, "1m", objs[0]["spec"].(map[string]any)["interval"])
	assert.Equal(t, "1m30s", objs[1]["spec"].(map[string]any)["timeout"])
	for d, want := range map[time.Duration]string{time.Hour: "1h", 2*time.Hour + 30*time.Minute: "2h30m", 10 * time.Second: "10s", 25 * time.Hour: "25h"} {
		assert.Equal(t, want, fluxDuration(d))
	}
	assert.Equal(t, "source.toolkit.fluxcd.io/v1", objs[0]["apiVersion"])
	assert.Equal(t, "kustomize.toolkit.fluxcd.io/v1", objs[1]["apiVersion"])
	assert.Equal(t, "https://10.0.0.10/root/p.git", DemoCloneURL("https://10.0.0.10/", "root/p"))
	for _, f := range []string{"deployment.yaml", "service.yaml", "kustomization.yaml"} {
		files, err := DemoFiles(DemoRepoDir)
		require.NoError(t, err)
		assert.True(t, slices.ContainsFunc(files, func(d DemoFile) bool { return strings.HasSuffix(d.RepoPath, "/"+f) }), f)
	}
}

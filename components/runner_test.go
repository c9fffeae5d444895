package components

import (
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi-gitlab/sdk/v6/go/gitlab"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestRunnerHelmValuesAreChartValues(t *testing.T) {
	t.Parallel()
	chart := keyList(t, "testdata/gitlab-runner-chart-values-keys.txt")
	for _, tls := range []bool{true, false} {
		values, err := RunnerHelmValues(pulumi.String("https://10.0.0.10"), tls, 4, false, config.RunnerNamespace)
		require.NoError(t, err)
		set := map[string]bool{}
		flattenValues("", values, set)
		assert.Empty(t, unknownKeys(set, chart))
		for _, want := range []string{"gitlabUrl", "runners.secret", "runners.config", "concurrent", "rbac.create", "serviceAccount.create", "serviceAccount.name", "unregisterRunners"} {
			assert.True(t, set[want], "the values set %s", want)
		}
		assert.Equal(t, tls, set["certsSecretName"], "the CA Secret only with TLS")
		assert.False(t, set["runnerToken"], "the token never goes into Helm values (they are stored in the release)")
		assert.Equal(t, pulumi.Bool(false), values["rbac"].(pulumi.Map)["create"], "the chart's Role would grant every core resource")
	}

	// Negative control: the proof of concept's registration-token values are not the chart's.
	old := map[string]bool{}
	flattenValues("", pulumi.Map{"runnerRegistrationToken": pulumi.String("x"), "rbac": pulumi.Map{"serviceAccountName": pulumi.String("x")}}, old)
	assert.Equal(t, []string{"rbac.serviceAccountName", "runnerRegistrationToken"}, unknownKeys(old, chart))
}

func TestRunnerConfigIsTheKubernetesExecutors(t *testing.T) {
	t.Parallel()
	schema := map[string]bool{}
	for k := range keyList(t, "testdata/gitlab-runner-config-keys.txt") {
		schema[k] = true
	}
	for _, privileged := range []bool{false, true} {
		doc, err := RunnerConfigTOML("gitlab-runner", privileged)
		require.NoError(t, err)
		var v map[string]any
		_, err = toml.Decode(doc, &v)
		require.NoError(t, err, doc)
		keys := map[string]bool{}
		flatten("", v, keys)
		var got []string
		for k := range keys {
			got = append(got, strings.ReplaceAll(k, "[]", ""))
		}
		for _, k := range got {
			assert.True(t, schema[k], "runners.config sets %s, which the runner does not read", k)
		}
		runners := v["runners"].([]map[string]any)
		require.Len(t, runners, 1, "the chart's template holds exactly one [[runners]]")
		kube := runners[0]["kubernetes"].(map[string]any)
		assert.Equal(t, "gitlab-runner", kube["namespace"], "jobs run where the runner's Role is")
		assert.Equal(t, privileged, kube["privileged"])
		assert.Equal(t, privileged, kube["allow_privilege_escalation"], "set explicitly: left out, the runner sets nothing")
		assert.Equal(t, RunnerJobServiceAccount, kube["service_account"])
		assert.Equal(t, false, kube["automount_service_account_token"], "a job has no cluster credentials of its own")
		assert.NotContains(t, doc, "{{", "the chart runs runners.config through tpl")
	}
}

func TestCIFileDeploysThroughEachAgent(t *testing.T) {
	t.Parallel()
	doc, err := RenderCIFile([]CIJob{
		{Cluster: "kapsule", KubeContext: "root/kubernetes-agent:kapsule", Namespace: "gitops-demo"},
		{Cluster: "prod", KubeContext: "root/kubernetes-agent:prod", Namespace: "shop"},
	}, true)
	require.NoError(t, err)
	var f map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &f))
	assert.Equal(t, []any{"deploy"}, f["stages"])
	for cluster, want := range map[string][2]string{"kapsule": {"root/kubernetes-agent:kapsule", "gitops-demo"}, "prod": {"root/kubernetes-agent:prod", "shop"}} {
		job, ok := f["deploy-"+cluster].(map[string]any)
		require.True(t, ok, "a job for %s", cluster)
		assert.Equal(t, CIJobImage, job["image"], "an image with a shell: the executor starts sh -c")
		vars := job["variables"].(map[string]any)
		assert.Regexp(t, `^v1\.\d+\.\d+$`, vars["KUBECTL_VERSION"], "kubectl is pinned")
		assert.Equal(t, want[0], vars["KUBE_CONTEXT"], "the agent's context, <project>:<agent>")
		assert.Equal(t, want[1], vars["DEPLOY_NAMESPACE"])
		script := strings.Join(toStrings(job["script"]), "\n")
		assert.Contains(t, script, "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl.sha256")
		assert.Contains(t, script, `| sha256sum -c`, "the download is checked before it runs")
		assert.Less(t, strings.Index(script, "sha256sum -c"), strings.Index(script, "kubectl config"), "checked first")
		assert.Contains(t, script, `kubectl config use-context "$KUBE_CONTEXT"`)
		assert.Contains(t, script, `--certificate-authority="$CI_SERVER_TLS_CA_FILE"`, "the agent's proxy is GitLab's HTTPS, with the private CA")
		assert.Contains(t, script, "rollout status deployment/"+CIDemoName)
		assert.NotContains(t, script, "--context", "one context for the whole job")
		assert.Equal(t, []any{map[string]any{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}}, job["rules"])
	}
	plain, err := RenderCIFile([]CIJob{{Cluster: "kapsule", KubeContext: "root/kubernetes-agent:kapsule", Namespace: "gitops-demo"}}, false)
	require.NoError(t, err)
	assert.NotContains(t, plain, "certificate-authority", "without TLS there is no CA to trust")
	_, err = RenderCIFile([]CIJob{{Cluster: "a"}, {Cluster: "a"}}, true)
	assert.ErrorContains(t, err, `two jobs for cluster "a"`)
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

func TestRunnerRBACIsNamespacedAndMinimal(t *testing.T) {
	t.Parallel()
	role, binding := RunnerRBAC("gitlab-runner")
	assert.Equal(t, "gitlab-runner", role.Namespace)
	assert.Equal(t, "Role", binding.RoleRef.Kind, "never a ClusterRole")
	assert.Equal(t, []string{RunnerServiceAccount}, []string{binding.Subjects[0].Name}, "the manager only; the jobs' account has nothing")
	for _, r := range role.Rules {
		assert.Equal(t, []string{""}, r.APIGroups, "core resources only")
		assert.NotContains(t, r.Verbs, "*")
		assert.NotContains(t, r.Resources, "*")
		for _, res := range r.Resources {
			assert.NotContains(t, []string{"roles", "rolebindings", "namespaces", "nodes"}, res)
		}
	}
}

// TestRunnerTokenGoesStraightIntoItsSecret: the runner's authentication
// token from GitLab's API reaches only the Secret the chart reads, as a
// secret, never Helm values; the CA is the file the runner looks for.
func TestRunnerTokenGoesStraightIntoItsSecret(t *testing.T) {
	t.Parallel()
	cloud, err := mockcloud.Run("dev", nil, nil, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{Kubeconfig: pulumi.ToSecret(pulumi.String("kubeconfig")).(pulumi.StringOutput)})
		if err != nil {
			return err
		}
		gl, err := gitlab.NewProvider(ctx, "gl", &gitlab.ProviderArgs{Token: pulumi.ToSecret(pulumi.String("t")).(pulumi.StringOutput)})
		if err != nil {
			return err
		}
		_, err = NewRunner(ctx, "runner-prod", &RunnerArgs{
			Cluster: "prod", ChartVersion: "0.82.0", Concurrency: 4, Tags: []string{"gpu", "prod"},
			GitLabURL: pulumi.String("https://10.0.0.10"), TLS: true, CACert: pulumi.String("CA PEM"),
			GitLabProvider: gl, KubernetesProvider: k8s, NodePoolID: pulumi.String("pool"),
		})
		return err
	})
	require.NoError(t, err)

	reg := one(t, cloud, "gitlab:index/userRunner:UserRunner")
	assert.Contains(t, reg.SecretOutputs, "token")
	assert.Equal(t, "instance_type", prop(t, reg, "runnerType").StringValue())
	assert.True(t, prop(t, reg, "untagged").BoolValue(), "the demo pipeline's jobs have no tags")
	var tags []string
	for _, v := range prop(t, reg, "tagLists").ArrayValue() {
		tags = append(tags, v.StringValue())
	}
	assert.Equal(t, []string{"prod", "gpu"}, tags, "the cluster's name first, once")

	var token, ca mockcloud.Resource
	for _, s := range cloud.OfType("kubernetes:core/v1:Secret") {
		switch s.Name {
		case "runner-prod-token-secret":
			token = s
		case "runner-prod-ca-secret":
			ca = s
		}
	}
	require.NotEmpty(t, token.Name)
	v := prop(t, token, "stringData.runner-token")
	assert.True(t, prop(t, token, "stringData").IsSecret() || v.IsSecret(), "the token is a secret input")
	assert.Equal(t, mockcloud.MockRunnerToken, plain(v).StringValue())
	assert.Equal(t, "", prop(t, token, "stringData.runner-registration-token").StringValue())
	files := plain(prop(t, ca, "stringData")).ObjectValue()
	assert.Equal(t, "CA PEM", plain(files["10.0.0.10.crt"]).StringValue(), "the runner reads <GitLab host>.crt")
	assert.Len(t, files, 1)

	release := one(t, cloud, "kubernetes:helm.sh/v3:Release")
	assert.NotContains(t, fmt.Sprint(release.Inputs.Mappable()), mockcloud.MockRunnerToken, "the token never reaches Helm values")
	assert.Equal(t, "gitlab-runner", prop(t, release, "chart").StringValue())
	assert.Equal(t, "0.82.0", plain(prop(t, release, "version")).StringValue())
	for _, sa := range cloud.OfType("kubernetes:core/v1:ServiceAccount") {
		if sa.Name == "runner-prod-"+RunnerJobServiceAccount {
			assert.False(t, prop(t, sa, "automountServiceAccountToken").BoolValue())
		}
	}
}

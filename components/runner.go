package components

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"

	"github.com/BurntSushi/toml"
	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/pulumi/pulumi-gitlab/sdk/v6/go/gitlab"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// RunnerChart is the official gitlab-runner chart, in AgentChartRepo.
const RunnerChart = "gitlab-runner"

// RunnerArgs configures one cluster's GitLab Runner.
type RunnerArgs struct {
	// Cluster is the cluster's name in the stack: the runner is tagged with
	// it and named after it in GitLab.
	Cluster string
	// ChartVersion pins the gitlab-runner chart; Concurrency is how many
	// jobs run at once; Tags are the runner's tags besides the cluster's
	// name; Privileged lets jobs run privileged containers.
	ChartVersion string
	Concurrency  int
	Tags         []string
	Privileged   bool
	// Namespace is where the runner and its jobs run; config.RunnerNamespace when empty.
	Namespace string
	// GitLabURL is GitLab on its private address, which the runner reaches
	// over the private network; known once GitLab is ready.
	GitLabURL pulumi.StringInput
	// TLS says GitLab serves HTTPS with the private CA, CACert that CA (PEM).
	TLS    bool
	CACert pulumi.StringInput
	// GitLabProvider registers the runner (the Agent's, through its tunnel).
	GitLabProvider *gitlab.Provider
	// KubernetesProvider deploys into the cluster (from its Kapsule);
	// NodePoolID gates the runner's pod.
	KubernetesProvider *kubernetes.Provider
	NodePoolID         pulumi.StringInput
}

// Runner is a GitLab Runner with the Kubernetes executor in one cluster:
// an instance runner created through GitLab's API (no registration token),
// whose authentication token goes straight into a Secret, and the official
// chart with the program's own least-privilege RBAC.
type Runner struct {
	pulumi.ResourceState

	// RunnerID is the runner's id in GitLab.
	RunnerID pulumi.StringOutput `pulumi:"runnerId"`
	// Release is the chart's release: the demo pipeline waits for it.
	Release *helmv3.Release
}

// NewRunner creates the runner in GitLab and installs it in the cluster.
func NewRunner(ctx *pulumi.Context, name string, args *RunnerArgs, opts ...pulumi.ResourceOption) (*Runner, error) {
	if args == nil || args.ChartVersion == "" || args.Concurrency < 1 || args.GitLabURL == nil ||
		args.GitLabProvider == nil || args.KubernetesProvider == nil {
		return nil, fmt.Errorf("runner %q: ChartVersion, Concurrency, GitLabURL, GitLabProvider and KubernetesProvider are required", name)
	}
	a := *args
	if a.Namespace == "" {
		a.Namespace = config.RunnerNamespace
	}
	if a.TLS && a.CACert == nil {
		return nil, fmt.Errorf("runner %q: TLS is on but CACert is missing: pass GitLabHost's CACert", name)
	}
	cluster := a.Cluster
	if cluster == "" {
		cluster = config.DefaultClusterName
	}
	comp := &Runner{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:Runner", name, comp, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(comp)

	if a.Privileged {
		_ = ctx.Log.Warn("runner:privileged is true: CI jobs in cluster "+cluster+" may run privileged containers, which can take over their node; "+
			"set it to false unless a job really builds images that way", &pulumi.LogArgs{Resource: comp})
	}
	// An instance runner serves every project of this private GitLab; its
	// jobs still have no rights in the cluster (RunnerJobServiceAccount).
	registration, err := gitlab.NewUserRunner(ctx, name+"-registration", &gitlab.UserRunnerArgs{
		RunnerType:  pulumi.String("instance_type"),
		Description: pulumi.String("Kubernetes executor in Kapsule cluster " + cluster + " (gitlab-kapsule)"),
		TagLists:    pulumi.ToStringArray(append([]string{cluster}, slices.DeleteFunc(slices.Clone(a.Tags), func(t string) bool { return t == cluster })...)),
		Untagged:    pulumi.Bool(true),
		// The token never reaches the state or the console in plain text.
	}, parent, pulumi.Provider(a.GitLabProvider), pulumi.AdditionalSecretOutputs([]string{"token"}))
	if err != nil {
		return nil, fmt.Errorf("runner %q: registration: %w", name, err)
	}

	var caCert pulumi.StringInput
	if a.TLS {
		caCert = a.CACert
	}
	onCluster := []pulumi.ResourceOption{parent, pulumi.Provider(a.KubernetesProvider)}
	access, err := DeclareRunnerClusterAccess(ctx, name, &RunnerClusterAccessArgs{
		Namespace: a.Namespace,
		Token:     pulumi.ToSecret(registration.Token).(pulumi.StringOutput),
		GitLabURL: a.GitLabURL,
		CACert:    caCert,
	}, onCluster...)
	if err != nil {
		return nil, err
	}
	values, err := RunnerHelmValues(a.GitLabURL, a.TLS, a.Concurrency, a.Privileged, a.Namespace)
	if err != nil {
		return nil, fmt.Errorf("runner %q: %w", name, err)
	}
	// The runner's pod needs nodes: the release waits for the pool.
	release, err := newChartRelease(ctx, name+"-release", chartRelease{
		Name: "gitlab-runner", Chart: RunnerChart, Repo: AgentChartRepo, Version: a.ChartVersion,
		Namespace: access.Namespace, NodePoolID: a.NodePoolID, Values: values,
	}, append(onCluster, pulumi.DependsOn(access.Resources))...)
	if err != nil {
		return nil, fmt.Errorf("runner %q: helm release: %w", name, err)
	}

	comp.RunnerID = registration.ID().ToStringOutput()
	comp.Release = release
	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{"runnerId": comp.RunnerID}); err != nil {
		return nil, err
	}
	return comp, nil
}

// RunnerClusterAccessArgs configures DeclareRunnerClusterAccess.
type RunnerClusterAccessArgs struct {
	// Namespace is where the runner and its jobs run.
	Namespace string
	// Token is the runner's authentication token (secret).
	Token pulumi.StringInput
	// GitLabURL names the CA file: the runner reads "<host>.crt".
	GitLabURL pulumi.StringInput
	// CACert is GitLab's private CA (PEM); nil without TLS.
	CACert pulumi.StringInput
}

// DeclareRunnerClusterAccess declares, with no component of its own,
// everything of the runner in the cluster but the Helm release: its
// namespace, the manager's and the jobs' service accounts, the manager's
// Role (RunnerRBAC), the token Secret and the CA Secret. opts carry the
// Kubernetes provider and the parent; the engine tests run it against a
// real API server.
func DeclareRunnerClusterAccess(ctx *pulumi.Context, name string, args *RunnerClusterAccessArgs, opts ...pulumi.ResourceOption) (*ClusterFooting, error) {
	labels := managedLabelArgs()
	ns, err := newNamespace(ctx, name+"-namespace", args.Namespace, opts...)
	if err != nil {
		return nil, fmt.Errorf("runner %q: namespace: %w", name, err)
	}
	inNS := append(slices.Clone(opts), pulumi.DependsOn([]pulumi.Resource{ns}))
	nsName := ns.Metadata.Name().Elem()
	deps := []pulumi.Resource{ns}

	for _, sa := range []struct {
		name      string
		automount bool
	}{{RunnerServiceAccount, true}, {RunnerJobServiceAccount, false}} {
		r, err := corev1.NewServiceAccount(ctx, name+"-"+sa.name, &corev1.ServiceAccountArgs{
			Metadata:                     &metav1.ObjectMetaArgs{Name: pulumi.String(sa.name), Namespace: nsName, Labels: labels},
			AutomountServiceAccountToken: pulumi.Bool(sa.automount),
		}, inNS...)
		if err != nil {
			return nil, fmt.Errorf("runner %q: service account %s: %w", name, sa.name, err)
		}
		deps = append(deps, r)
	}
	role, binding := RunnerRBAC(args.Namespace)
	r, b, err := newRole(ctx, name, role, binding, inNS)
	if err != nil {
		return nil, err
	}
	deps = append(deps, r, b)

	token, err := corev1.NewSecret(ctx, name+"-token-secret", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(RunnerTokenSecret), Namespace: nsName, Labels: labels},
		Type:     pulumi.String("Opaque"),
		// The chart mounts both keys; with an authentication token the
		// registration token stays empty.
		StringData: pulumi.StringMap{
			"runner-token":              pulumi.ToSecret(args.Token).(pulumi.StringOutput),
			"runner-registration-token": pulumi.String(""),
		},
	}, append(inNS, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))...)
	if err != nil {
		return nil, fmt.Errorf("runner %q: token secret: %w", name, err)
	}
	deps = append(deps, token)

	if args.CACert != nil {
		files := pulumi.All(args.GitLabURL, args.CACert).ApplyT(func(v []any) (map[string]string, error) {
			u, err := url.Parse(v[0].(string))
			if err != nil || u.Hostname() == "" {
				return nil, fmt.Errorf("runner %q: GitLab's URL %q has no host for the CA file", name, v[0])
			}
			return map[string]string{u.Hostname() + ".crt": v[1].(string)}, nil
		}).(pulumi.StringMapOutput)
		ca, err := corev1.NewSecret(ctx, name+"-ca-secret", &corev1.SecretArgs{
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(RunnerCASecret), Namespace: nsName, Labels: labels},
			Type:       pulumi.String("Opaque"),
			StringData: files,
		}, inNS...)
		if err != nil {
			return nil, fmt.Errorf("runner %q: CA secret: %w", name, err)
		}
		deps = append(deps, ca)
	}
	return &ClusterFooting{Namespace: ns, Resources: deps}, nil
}

// RunnerHelmValues are the gitlab-runner chart values this program sets.
// Every key is checked against the chart's keys in a test
// (testdata/gitlab-runner-chart-values-keys.txt), the TOML of
// runners.config against the runner's (testdata/gitlab-runner-config-keys.txt).
func RunnerHelmValues(gitlabURL pulumi.StringInput, tls bool, concurrency int, privileged bool, namespace string) (pulumi.Map, error) {
	runnerConfig, err := RunnerConfigTOML(namespace, privileged)
	if err != nil {
		return nil, err
	}
	values := pulumi.Map{
		"gitlabUrl":  gitlabURL,
		"concurrent": pulumi.Int(concurrency),
		"runners": pulumi.Map{
			// The token comes from a Secret this program manages, never a value.
			"secret": pulumi.String(RunnerTokenSecret),
			"config": pulumi.String(runnerConfig),
		},
		// With an authentication token, unregistering on stop deletes only
		// the pod's runner manager, not the runner (the program's
		// UserRunner): no stale manager is left per pod (chart 0.82.0 values).
		"unregisterRunners": pulumi.Bool(true),
		// The program's Role (RunnerRBAC), not the chart's, which would
		// grant every core resource of the namespace.
		"rbac":           pulumi.Map{"create": pulumi.Bool(false)},
		"serviceAccount": pulumi.Map{"create": pulumi.Bool(false), "name": pulumi.String(RunnerServiceAccount)},
		"replicas":       pulumi.Int(1),
	}
	if tls {
		values["certsSecretName"] = pulumi.String(RunnerCASecret)
	}
	return values, nil
}

// runnerConfig is the [[runners]] template of the chart's runners.config:
// the Kubernetes executor's settings (gitlab-runner common/config.go
// KubernetesConfig, v18.5.0).
type runnerConfig struct {
	Runners []runnerEntry `toml:"runners"`
}

type runnerEntry struct {
	Kubernetes kubernetesExecutor `toml:"kubernetes"`
}

type kubernetesExecutor struct {
	// Namespace is where job pods run: the runner's own, where its Role is.
	Namespace string `toml:"namespace"`
	// Image is the default job image, for jobs that name none.
	Image string `toml:"image"`
	// Privileged and AllowPrivilegeEscalation are false unless asked: left
	// empty, allow_privilege_escalation would not be set at all.
	Privileged               bool `toml:"privileged"`
	AllowPrivilegeEscalation bool `toml:"allow_privilege_escalation"`
	// ServiceAccount is the job pods' (RunnerJobServiceAccount), whose
	// token is not mounted: a job has no rights in the cluster.
	ServiceAccount               string `toml:"service_account"`
	AutomountServiceAccountToken bool   `toml:"automount_service_account_token"`
}

// RunnerConfigTOML renders runners.config. The chart passes it through
// Helm's tpl, so it must not contain "{{".
func RunnerConfigTOML(namespace string, privileged bool) (string, error) {
	var buf bytes.Buffer
	err := toml.NewEncoder(&buf).Encode(runnerConfig{Runners: []runnerEntry{{Kubernetes: kubernetesExecutor{
		Namespace:                namespace,
		Image:                    CIJobImage,
		Privileged:               privileged,
		AllowPrivilegeEscalation: privileged,
		ServiceAccount:           RunnerJobServiceAccount,
	}}}})
	if err != nil {
		return "", fmt.Errorf("render the runner's config.toml: %w", err)
	}
	if bytes.Contains(buf.Bytes(), []byte("{{")) {
		return "", fmt.Errorf("the runner's config.toml contains {{, which the chart's tpl would read as a template")
	}
	return buf.String(), nil
}

package components

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/cleanup"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/tunnel"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/pulumi/pulumi-gitlab/sdk/v6/go/gitlab"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	k8srbac "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	rbacv1 "k8s.io/api/rbac/v1"
	k8smeta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Fixed parts of the agent's installation.
const (
	// AgentChartRepo is the official repository of the gitlab-agent chart.
	AgentChartRepo = "https://charts.gitlab.io"
	// AgentChart is the chart's name in it.
	AgentChart = "gitlab-agent"
	// AgentReplicas is agentk's replica count: two, so a node drain keeps the agent connected.
	AgentReplicas = 2
	// AgentProjectPath is the configuration project's path in the admin's namespace.
	AgentProjectPath = "kubernetes-agent"
	// agentProjectNamespace is that namespace: the automation token is the
	// root user's, GitLab's first administrator.
	agentProjectNamespace = "root"
)

// AgentArgs configures an Agent: what every cluster's agent shares (the
// chart, agentk, GitLab and the way to it), and the clusters.
type AgentArgs struct {
	// Clusters are the clusters that each get an agent; one at least.
	Clusters []AgentCluster
	// ChartVersion and ImageTag pin the gitlab-agent chart and agentk.
	ChartVersion, ImageTag string
	// TunnelPort is the fixed loopback port of the SSH tunnel to GitLab.
	TunnelPort int
	// AgentNamespace is where agentk runs; config.AgentNamespace when empty.
	AgentNamespace string
	// FluxNamespace is where Flux's webhook receiver listens for agentk's
	// push notifications; config.FluxNamespace when empty.
	FluxNamespace string
	// CIAccessProjects are the projects (full paths) whose CI jobs may use
	// every agent besides the configuration project (agent:ciAccessProjects).
	CIAccessProjects []string

	// TLS says GitLab serves HTTPS and KAS grpcs:// with the private CA.
	TLS bool
	// GitLabURL is GitLab's web URL, known once GitLab is ready: whatever
	// talks to GitLab's API waits for it.
	GitLabURL pulumi.StringInput
	// PrivateIP is GitLab's private address, the tunnel's far end.
	PrivateIP pulumi.StringInput
	// KASAddress is where agentk connects (grpcs://IP:8150).
	KASAddress pulumi.StringInput
	// CACert is the private CA (PEM) agentk and the GitLab provider trust; "" without TLS.
	CACert pulumi.StringInput
	// AdminToken is the automation personal access token (secret, scope api).
	AdminToken pulumi.StringInput
	// GitLabServerID is the GitLab host's instance id: a replaced host means
	// waiting again for every agent to reconnect. Optional.
	GitLabServerID pulumi.StringInput

	// BastionHost, BastionPort and AutomationPrivateKey reach the bastion.
	BastionHost          pulumi.StringInput
	BastionPort          int
	AutomationPrivateKey pulumi.StringInput

	// ConnectTimeout bounds the wait for the agent's connection; zero leaves
	// it to the readiness provider's default (15 minutes).
	ConnectTimeout time.Duration
	// OpenTunnel opens the SSH tunnel and returns what closes it; nil uses
	// tunnel.Shared, or nothing under Pulumi's mocks. Tests pass their own.
	// The closer is registered with internal/cleanup: a driver that goes on
	// after the operation (the Automation API) closes it then; a plain
	// `pulumi up` exits instead.
	OpenTunnel func(tunnel.Config) (io.Closer, error)
	// WriteCACert writes the CA file the GitLab provider reads; nil writes
	// it to disk, or nothing under Pulumi's mocks.
	WriteCACert func(path string, pem []byte) error
}

// AgentCluster is one cluster's agent.
type AgentCluster struct {
	// Cluster is the cluster's name in the stack: the cluster named
	// config.DefaultClusterName keeps a one-cluster stack's resource names,
	// the others' are "<component>-<cluster>-...".
	Cluster string
	// Name is the agent's name in GitLab, e.g. "kapsule"; unique in the project.
	Name string
	// Namespaces are the namespaces the agent deploys to; it gets a Role in
	// each (they are created here) and nothing cluster-wide.
	Namespaces []string
	// ClusterAdmin binds the agent to cluster-admin instead (with a warning).
	ClusterAdmin bool
	// KubernetesProvider deploys into the cluster (from its Kapsule).
	KubernetesProvider *kubernetes.Provider
	// NodePoolID gates what runs pods: agentk needs nodes.
	NodePoolID pulumi.StringInput
	// StartAfter are what agentk's release waits for besides the pool:
	// Flux's installation, whose CRDs agentk's Flux module reads only when
	// it starts (Flux.Installed). Empty without GitOps.
	StartAfter []pulumi.Resource
}

// ClusterAgent is one cluster's agent, registered and connected.
type ClusterAgent struct {
	// AgentName is the agent's name; known once the agent is connected.
	AgentName pulumi.StringOutput
	// AgentID is the agent's id in GitLab.
	AgentID pulumi.IntOutput
	// KubeContext is the context CI jobs of the configuration project use: "<project path>:<agent name>".
	KubeContext pulumi.StringOutput
	// ConnectedAt is when GitLab first listed the agent's connection.
	ConnectedAt pulumi.StringOutput
	// ConfigFile is the agent's config.yaml commit.
	ConfigFile *gitlab.RepositoryFile
	// Connected is the wait until GitLab lists the agent as connected:
	// whatever deploys through the agent (CI jobs) waits for it.
	Connected pulumi.Resource
}

// Agent is the GitLab agent for Kubernetes of every cluster: one
// configuration project in GitLab, and per cluster an agent registered in
// it, installed in the cluster and connected, with no manual step.
type Agent struct {
	pulumi.ResourceState

	// ConfigProjectPath is the configuration project's full path, e.g. "root/kubernetes-agent".
	ConfigProjectPath pulumi.StringOutput `pulumi:"configProjectPath"`
	// ConfigProjectURL is the configuration project's web URL.
	ConfigProjectURL pulumi.StringOutput `pulumi:"configProjectUrl"`
	// GitLabAPIURL is GitLab's API through the tunnel, e.g. https://127.0.0.1:18443/api/v4/.
	GitLabAPIURL pulumi.StringOutput `pulumi:"gitlabApiUrl"`
	// GitLabProvider talks to GitLab through the tunnel; built once here and handed on.
	GitLabProvider *gitlab.Provider
	// ConfigProject is the agent's configuration project.
	ConfigProject *gitlab.Project
	// Clusters are the clusters' agents, by cluster name.
	Clusters map[string]*ClusterAgent
	// LastCommit is the agents' last commit to the project: later commits
	// wait for it, since GitLab refuses concurrent commits to a branch.
	LastCommit pulumi.Resource
}

// NewAgent creates the agents' configuration project in GitLab through an
// SSH tunnel and, for each cluster, registers its agent (config file,
// agent, token), installs agentk with the gitlab-agent chart and
// least-privilege RBAC, and waits until GitLab lists the agent as connected.
func NewAgent(ctx *pulumi.Context, name string, args *AgentArgs, opts ...pulumi.ResourceOption) (*Agent, error) {
	if args == nil || len(args.Clusters) == 0 || args.TunnelPort == 0 || args.GitLabURL == nil || args.PrivateIP == nil ||
		args.KASAddress == nil || args.AdminToken == nil || args.BastionHost == nil || args.AutomationPrivateKey == nil ||
		args.ChartVersion == "" || args.ImageTag == "" {
		return nil, fmt.Errorf("agent %q: Clusters, TunnelPort, GitLabURL, PrivateIP, KASAddress, AdminToken, BastionHost, "+
			"AutomationPrivateKey, ChartVersion and ImageTag are required", name)
	}
	for i, c := range args.Clusters {
		if c.Name == "" || c.KubernetesProvider == nil {
			return nil, fmt.Errorf("agent %q: Clusters[%d] (%q) needs a Name and a KubernetesProvider", name, i, c.Cluster)
		}
	}
	a := *args
	if a.AgentNamespace == "" {
		a.AgentNamespace = config.AgentNamespace
	}
	if a.FluxNamespace == "" {
		a.FluxNamespace = config.FluxNamespace
	}
	if a.CACert == nil {
		a.CACert = pulumi.String("")
	}
	mocked := ctx.RunningWithMocks()
	if a.OpenTunnel == nil {
		a.OpenTunnel = func(cfg tunnel.Config) (io.Closer, error) {
			if mocked {
				return nil, nil
			}
			cfg.Logf = func(format string, v ...any) { _ = ctx.Log.Warn(fmt.Sprintf(format, v...), nil) }
			return tunnel.Shared(cfg)
		}
	}
	if a.WriteCACert == nil {
		a.WriteCACert = writeFileIfChanged
		if mocked {
			a.WriteCACert = func(string, []byte) error { return nil }
		}
	}

	comp := &Agent{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:Agent", name, comp, opts...); err != nil {
		return nil, err
	}
	warnOutsideRootNamespace(ctx, comp, a.CIAccessProjects)
	parent := pulumi.Parent(comp)

	gl, apiURL, err := newGitLabProvider(ctx, name, &a, parent)
	if err != nil {
		return nil, err
	}
	onGitLab := []pulumi.ResourceOption{parent, pulumi.Provider(gl)}

	project, err := gitlab.NewProject(ctx, name+"-project", &gitlab.ProjectArgs{
		Name:        pulumi.String(AgentProjectPath),
		Path:        pulumi.String(AgentProjectPath),
		Description: pulumi.String("Configuration of the GitLab agent for Kubernetes of the Kapsule cluster (managed by gitlab-kapsule)."),
		// Private, and with a README so that a default branch exists for the config file.
		VisibilityLevel:      pulumi.String("private"),
		InitializeWithReadme: pulumi.Bool(true),
	}, append(onGitLab,
		// GitLab 18 CE only marks a deleted project for deletion (delayed
		// deletion moved to Free in 18.0, epic gitlab-org/&17208), and the
		// v6 SDK's delete then polls until the API reports it gone or
		// marked_for_deletion_at, which CE's project entity may not carry:
		// destroy could hang ten minutes and fail. The project lives on
		// the GitLab host's disk, which destroy removes with the host, so
		// destroy leaves it to that; its agent, token and files are deleted
		// through the API as usual.
		pulumi.RetainOnDelete(true))...)
	if err != nil {
		return nil, fmt.Errorf("agent %q: configuration project: %w", name, err)
	}
	comp.GitLabProvider = gl
	comp.ConfigProject = project
	comp.GitLabAPIURL = apiURL
	comp.ConfigProjectPath = project.PathWithNamespace
	comp.ConfigProjectURL = project.WebUrl
	comp.Clusters = map[string]*ClusterAgent{}
	clusterOutputs := pulumi.Map{}
	// One commit after the other: GitLab refuses concurrent commits to a branch.
	var lastCommit []pulumi.Resource
	for _, c := range a.Clusters {
		ca, err := declareClusterAgent(ctx, ClusterResourceName(name, c.Cluster), &a, c, project, lastCommit, comp, onGitLab)
		if err != nil {
			return nil, err
		}
		comp.Clusters[c.Cluster] = ca
		lastCommit = []pulumi.Resource{ca.ConfigFile}
		clusterOutputs[c.Cluster] = pulumi.Map{
			"agentName": ca.AgentName, "agentId": ca.AgentID, "kubeContext": ca.KubeContext, "connectedAt": ca.ConnectedAt,
		}
	}
	comp.LastCommit = lastCommit[0]
	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{
		"configProjectPath": comp.ConfigProjectPath,
		"configProjectUrl":  comp.ConfigProjectURL,
		"gitlabApiUrl":      comp.GitLabAPIURL,
		"clusters":          clusterOutputs,
	}); err != nil {
		return nil, err
	}
	return comp, nil
}

// declareClusterAgent declares one cluster's agent, its resources named
// from prefix: its config file, its
// registration and token in GitLab, agentk in the cluster, and the wait
// until GitLab lists it as connected.
// The config file waits for commitsBefore.
func declareClusterAgent(ctx *pulumi.Context, prefix string, a *AgentArgs, c AgentCluster, project *gitlab.Project,
	commitsBefore []pulumi.Resource, comp *Agent, onGitLab []pulumi.ResourceOption) (*ClusterAgent, error) {
	content := project.PathWithNamespace.ApplyT(func(path string) (string, error) {
		return RenderAgentConfig(path, c.Namespaces, a.FluxNamespace, a.CIAccessProjects...)
	}).(pulumi.StringOutput)
	file, err := gitlab.NewRepositoryFile(ctx, prefix+"-config", &gitlab.RepositoryFileArgs{
		Project:       project.ID().ToStringOutput(),
		Branch:        project.DefaultBranch,
		FilePath:      pulumi.String(AgentConfigPath(c.Name)),
		Content:       content,
		Encoding:      pulumi.String("text"),
		CommitMessage: pulumi.String("Configure the " + c.Name + " agent (gitlab-kapsule)"),
		AuthorName:    pulumi.String("gitlab-kapsule"),
		AuthorEmail:   pulumi.String("gitlab-kapsule@localhost"),
		// An earlier run may have committed the file before its state was saved.
		OverwriteOnCreate: pulumi.Bool(true),
	}, append(slices.Clone(onGitLab), pulumi.DependsOn(commitsBefore))...)
	if err != nil {
		return nil, fmt.Errorf("agent %q: config file: %w", prefix, err)
	}
	agent, err := gitlab.NewClusterAgent(ctx, prefix+"-registration", &gitlab.ClusterAgentArgs{
		Project: project.ID().ToStringOutput(),
		Name:    pulumi.String(c.Name),
	}, append(onGitLab, pulumi.DependsOn([]pulumi.Resource{file}))...)
	if err != nil {
		return nil, fmt.Errorf("agent %q: registration: %w", prefix, err)
	}
	token, err := gitlab.NewClusterAgentToken(ctx, prefix+"-token", &gitlab.ClusterAgentTokenArgs{
		Project:     project.ID().ToStringOutput(),
		AgentId:     agent.AgentId,
		Name:        pulumi.String("agentk"),
		Description: pulumi.String(agentTokenDescription(c.Cluster)),
		// The SDK does not mark the token secret itself: make sure it never
		// reaches the state or the console in plain text.
	}, append(onGitLab, pulumi.AdditionalSecretOutputs([]string{"token"}))...)
	if err != nil {
		return nil, fmt.Errorf("agent %q: token: %w", prefix, err)
	}

	release, err := installAgent(ctx, prefix, a, c, pulumi.ToSecret(token.Token).(pulumi.StringOutput), comp)
	if err != nil {
		return nil, err
	}

	connected, err := gitlabwait.NewAgentConnected(ctx, prefix+"-connected", &gitlabwait.AgentConnectedArgs{
		Access: gitLabThroughBastion{
			BastionHost: a.BastionHost, BastionPort: a.BastionPort, PrivateKey: a.AutomationPrivateKey,
			GitLabIP: a.PrivateIP, TLS: a.TLS, CACert: a.CACert, Timeout: a.ConnectTimeout,
		}.access(),
		Token:       a.AdminToken,
		ProjectPath: project.PathWithNamespace,
		AgentName:   agent.Name,
		TokenId:     token.TokenId.ApplyT(strconv.Itoa).(pulumi.StringOutput),
		// Nil (no host id) leaves the input unset.
		GitlabInstanceId: optionalString(a.GitLabServerID),
	}, pulumi.Parent(comp), pulumi.DependsOn([]pulumi.Resource{release}))
	if err != nil {
		return nil, fmt.Errorf("agent %q: connection wait: %w", prefix, err)
	}
	return &ClusterAgent{
		AgentName:   after(agent.Name, connected.ConnectedAt),
		AgentID:     agent.AgentId,
		KubeContext: pulumi.Sprintf("%s:%s", project.PathWithNamespace, agent.Name),
		ConnectedAt: connected.ConnectedAt,
		ConfigFile:  file,
		Connected:   connected,
	}, nil
}

// warnOutsideRootNamespace warns about agent:ciAccessProjects that GitLab
// ignores by default: ci_access authorizes only projects under the
// configuration project's top-level namespace (root's), unless an
// administrator turns on instance-level authorization, the application
// setting organization_cluster_agent_authorization_enabled (gitlab-org/gitlab
// app/finders/clusters/agents/authorizations/ci_access/finder.rb, MR 190769).
func warnOutsideRootNamespace(ctx *pulumi.Context, comp *Agent, projects []string) {
	for _, p := range projects {
		if !strings.HasPrefix(p, agentProjectNamespace+"/") {
			_ = ctx.Log.Warn(fmt.Sprintf("agent:ciAccessProjects lists %q, outside %s/, the agents' project's namespace: GitLab gives its jobs no agent context "+
				"unless an administrator enables instance-level authorization (Admin > Settings > General > GitLab agent for Kubernetes)", p, agentProjectNamespace),
				&pulumi.LogArgs{Resource: comp})
		}
	}
}

// agentTokenDescription says where a token's agentk runs.
func agentTokenDescription(cluster string) string {
	if isDefaultCluster(cluster) {
		return "agentk in the Kapsule cluster (gitlab-kapsule)"
	}
	return "agentk in the Kapsule cluster " + cluster + " (gitlab-kapsule)"
}

// newGitLabProvider opens the SSH tunnel once GitLab is ready and the
// bastion is known, and returns a GitLab provider whose base URL is the
// tunnel's loopback end. The URL is derived from the tunnel's opening, so the
// provider is configured only once the tunnel listens; it is the same on
// every run (fixed port), so the provider's configuration does not change.
func newGitLabProvider(ctx *pulumi.Context, name string, a *AgentArgs, parent pulumi.ResourceOption) (*gitlab.Provider, pulumi.StringOutput, error) {
	caPath := CACertPath(ctx.Project(), ctx.Stack())
	opened := pulumi.All(a.BastionHost, a.AutomationPrivateKey, a.PrivateIP, a.GitLabURL, a.CACert).ApplyT(func(v []any) (string, error) {
		host, key, ip, caPEM := v[0].(string), v[1].(string), v[2].(string), v[4].(string)
		if a.TLS {
			if err := a.WriteCACert(caPath, []byte(caPEM)); err != nil {
				return "", fmt.Errorf("agent %q: write GitLab's CA for the GitLab provider to %s: %w", name, caPath, err)
			}
		}
		closer, err := a.OpenTunnel(tunnel.Config{
			LocalPort:   a.TunnelPort,
			BastionAddr: net.JoinHostPort(host, strconv.Itoa(a.BastionPort)),
			BastionUser: sshbastion.ScalewayUser,
			PrivateKey:  key,
			Target:      webOf(a.TLS).hostPort(ip),
		})
		if err != nil {
			return "", fmt.Errorf("agent %q: ssh tunnel to GitLab: %w", name, err)
		}
		if closer != nil {
			cleanup.Register(ctx, closer.Close)
		}
		// GitLab's certificate names 127.0.0.1, the tunnel's end.
		return webOf(a.TLS).url(net.JoinHostPort("127.0.0.1", strconv.Itoa(a.TunnelPort))) + "/api/v4/", nil
	}).(pulumi.StringOutput)
	// The URL carries nothing secret; the key it was opened with made it secret.
	apiURL := pulumi.Unsecret(opened).(pulumi.StringOutput)

	provArgs := &gitlab.ProviderArgs{
		BaseUrl:        apiURL,
		Token:          a.AdminToken,
		EarlyAuthCheck: pulumi.Bool(true),
	}
	if a.TLS {
		provArgs.CacertFile = pulumi.String(caPath)
	}
	gl, err := gitlab.NewProvider(ctx, name+"-gitlab", provArgs, parent)
	if err != nil {
		return nil, pulumi.StringOutput{}, fmt.Errorf("agent %q: gitlab provider: %w", name, err)
	}
	return gl, apiURL, nil
}

// installAgent creates agentk's footing in the cluster, then the Helm
// release, all through Kapsule's Kubernetes provider.
func installAgent(ctx *pulumi.Context, name string, a *AgentArgs, c AgentCluster, token pulumi.StringOutput, comp *Agent) (*helmv3.Release, error) {
	onCluster := []pulumi.ResourceOption{pulumi.Parent(comp), pulumi.Provider(c.KubernetesProvider)}
	access, err := DeclareAgentClusterAccess(ctx, name, &AgentClusterAccessArgs{
		AgentNamespace: a.AgentNamespace,
		Namespaces:     c.Namespaces,
		ClusterAdmin:   c.ClusterAdmin,
		Token:          token,
	}, onCluster...)
	if err != nil {
		return nil, err
	}
	ns, deps := access.Namespace, access.Resources

	// agentk's pods need nodes: the release waits for the pool.
	release, err := newChartRelease(ctx, name+"-release", chartRelease{
		Name: "gitlab-agent", Chart: AgentChart, Repo: AgentChartRepo, Version: a.ChartVersion,
		Namespace: ns, NodePoolID: c.NodePoolID, Values: AgentHelmValues(a.KASAddress, a.CACert, a.ImageTag),
	}, append(onCluster, pulumi.DependsOn(deps), pulumi.DependsOn(c.StartAfter))...)
	if err != nil {
		return nil, fmt.Errorf("agent %q: helm release: %w", name, err)
	}
	return release, nil
}

// AgentClusterAccessArgs configures DeclareAgentClusterAccess.
type AgentClusterAccessArgs struct {
	// AgentNamespace is where agentk runs.
	AgentNamespace string
	// Namespaces are where the agent may deploy; each is created with a Role.
	Namespaces []string
	// ClusterAdmin binds the agent to cluster-admin instead (with a warning).
	ClusterAdmin bool
	// Token is the agent token (secret), stored in the Secret agentk reads.
	Token pulumi.StringInput
}

// DeclareAgentClusterAccess declares, with no component of its own,
// everything of the agent in the cluster but the Helm release: agentk's
// namespace, the namespaces it deploys to, the Secret with its token, and
// its RBAC (namespaced Roles; cluster-admin only when asked). opts carry
// the Kubernetes provider and the parent. It needs no chart and no GitLab,
// so the engine tests run it against a real API server.
func DeclareAgentClusterAccess(ctx *pulumi.Context, name string, args *AgentClusterAccessArgs, opts ...pulumi.ResourceOption) (*ClusterFooting, error) {
	labels := managedLabelArgs()
	ns, err := newNamespace(ctx, name+"-namespace", args.AgentNamespace, opts...)
	if err != nil {
		return nil, fmt.Errorf("agent %q: namespace: %w", name, err)
	}
	deps := []pulumi.Resource{ns}
	// The namespaces the agent deploys to exist before their Roles.
	targets := map[string]*corev1.Namespace{}
	for _, target := range args.Namespaces {
		t, err := newNamespace(ctx, name+"-target-"+target, target, opts...)
		if err != nil {
			return nil, fmt.Errorf("agent %q: namespace %s: %w", name, target, err)
		}
		targets[target] = t
		deps = append(deps, t)
	}

	secret, err := corev1.NewSecret(ctx, name+"-token-secret", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(AgentTokenSecret), Namespace: ns.Metadata.Name().Elem(), Labels: labels},
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{"token": pulumi.ToSecret(args.Token).(pulumi.StringOutput)},
	}, append(opts, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))...)
	if err != nil {
		return nil, fmt.Errorf("agent %q: token secret: %w", name, err)
	}
	deps = append(deps, secret)

	if args.ClusterAdmin {
		_ = ctx.Log.Warn("agent:clusterAdmin is true: the GitLab agent, and every CI job of its configuration project, is cluster-admin of the Kapsule cluster; "+
			"set it to false and list agent:namespaces for least privilege", nil)
		crb, err := k8srbac.NewClusterRoleBinding(ctx, name+"-cluster-admin", &k8srbac.ClusterRoleBindingArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("gitlab-agent-cluster-admin"), Labels: labels},
			RoleRef:  &k8srbac.RoleRefArgs{ApiGroup: pulumi.String(rbacv1.GroupName), Kind: pulumi.String("ClusterRole"), Name: pulumi.String("cluster-admin")},
			Subjects: k8srbac.SubjectArray{&k8srbac.SubjectArgs{Kind: pulumi.String(rbacv1.ServiceAccountKind), Name: pulumi.String(AgentServiceAccount), Namespace: ns.Metadata.Name().Elem()}},
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("agent %q: cluster-admin binding: %w", name, err)
		}
		deps = append(deps, crb)
	}
	roles, bindings := AgentRBAC(args.AgentNamespace, args.Namespaces)
	for i := range roles {
		rdeps := []pulumi.Resource{ns}
		if t, ok := targets[roles[i].Namespace]; ok {
			rdeps = []pulumi.Resource{t}
		}
		role, binding, err := newRole(ctx, name, roles[i], bindings[i], append(opts, pulumi.DependsOn(rdeps)))
		if err != nil {
			return nil, err
		}
		deps = append(deps, role, binding)
	}
	return &ClusterFooting{Namespace: ns, Resources: deps}, nil
}

// AgentHelmValues are the gitlab-agent chart values this program sets. Every
// key is checked against the chart's values.yaml keys in a test
// (testdata/gitlab-agent-chart-values-keys.txt), so a value the chart does
// not have, such as the old proof of concept's kas.url, fails.
func AgentHelmValues(kasAddress, caCert pulumi.StringInput, imageTag string) pulumi.Map {
	return pulumi.Map{
		"config": pulumi.Map{
			"kasAddress": kasAddress,
			// The token comes from a Secret this program manages, never a value.
			"secretName": pulumi.String(AgentTokenSecret),
			// PEM of the private CA; empty without TLS.
			"kasCaCert": caCert,
		},
		// No cluster-admin binding from the chart: the program's own Roles apply.
		"rbac":           pulumi.Map{"create": pulumi.Bool(false)},
		"serviceAccount": pulumi.Map{"create": pulumi.Bool(true), "name": pulumi.String(AgentServiceAccount)},
		"replicas":       pulumi.Int(AgentReplicas),
		"image":          pulumi.Map{"tag": pulumi.String(imageTag)},
	}
}

// newRole turns one Role and RoleBinding of AgentRBAC into resources.
func newRole(ctx *pulumi.Context, name string, role rbacv1.Role, binding rbacv1.RoleBinding, opts []pulumi.ResourceOption) (*k8srbac.Role, *k8srbac.RoleBinding, error) {
	child := fmt.Sprintf("%s-%s-%s", name, role.Namespace, role.Name)
	r, err := k8srbac.NewRole(ctx, child, &k8srbac.RoleArgs{Metadata: rbacMeta(role.ObjectMeta), Rules: policyRules(role.Rules)}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %q: role %s/%s: %w", name, role.Namespace, role.Name, err)
	}
	b, err := k8srbac.NewRoleBinding(ctx, child+"-binding", &k8srbac.RoleBindingArgs{
		Metadata: rbacMeta(binding.ObjectMeta),
		RoleRef:  roleRef(binding.RoleRef, r.Metadata.Name().Elem()),
		Subjects: subjectArgs(binding.Subjects),
	}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %q: role binding %s/%s: %w", name, role.Namespace, role.Name, err)
	}
	return r, b, nil
}

// newClusterRole turns a ClusterRole and its binding into resources.
func newClusterRole(ctx *pulumi.Context, name string, role rbacv1.ClusterRole, binding rbacv1.ClusterRoleBinding, opts []pulumi.ResourceOption) (*k8srbac.ClusterRole, *k8srbac.ClusterRoleBinding, error) {
	child := fmt.Sprintf("%s-%s", name, role.Name)
	r, err := k8srbac.NewClusterRole(ctx, child, &k8srbac.ClusterRoleArgs{Metadata: rbacMeta(role.ObjectMeta), Rules: policyRules(role.Rules)}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster role %s: %w", role.Name, err)
	}
	b, err := k8srbac.NewClusterRoleBinding(ctx, child+"-binding", &k8srbac.ClusterRoleBindingArgs{
		Metadata: rbacMeta(binding.ObjectMeta),
		RoleRef:  roleRef(binding.RoleRef, r.Metadata.Name().Elem()),
		Subjects: subjectArgs(binding.Subjects),
	}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster role binding %s: %w", binding.Name, err)
	}
	return r, b, nil
}

// roleRef points a binding at the role it binds, by the created role's name,
// so the binding waits for the role.
func roleRef(ref rbacv1.RoleRef, name pulumi.StringInput) *k8srbac.RoleRefArgs {
	return &k8srbac.RoleRefArgs{ApiGroup: pulumi.String(ref.APIGroup), Kind: pulumi.String(ref.Kind), Name: name}
}

func rbacMeta(m k8smeta.ObjectMeta) *metav1.ObjectMetaArgs {
	args := &metav1.ObjectMetaArgs{Name: pulumi.String(m.Name), Labels: pulumi.ToStringMap(m.Labels)}
	if m.Namespace != "" {
		args.Namespace = pulumi.String(m.Namespace)
	}
	return args
}

func policyRules(in []rbacv1.PolicyRule) k8srbac.PolicyRuleArray {
	var rules k8srbac.PolicyRuleArray
	for _, r := range in {
		rule := &k8srbac.PolicyRuleArgs{
			ApiGroups: pulumi.ToStringArray(r.APIGroups),
			Resources: pulumi.ToStringArray(r.Resources),
			Verbs:     pulumi.ToStringArray(r.Verbs),
		}
		if len(r.ResourceNames) > 0 {
			rule.ResourceNames = pulumi.ToStringArray(r.ResourceNames)
		}
		rules = append(rules, rule)
	}
	return rules
}

func subjectArgs(in []rbacv1.Subject) k8srbac.SubjectArray {
	var subjects k8srbac.SubjectArray
	for _, s := range in {
		subjects = append(subjects, &k8srbac.SubjectArgs{Kind: pulumi.String(s.Kind), Name: pulumi.String(s.Name), Namespace: pulumi.String(s.Namespace)})
	}
	return subjects
}

// CACertPath is where the program writes GitLab's CA for the GitLab
// provider: a stable path per project and stack in the user's cache, so the
// provider's configuration stays the same from run to run on one machine.
func CACertPath(project, stack string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "gitlab-kapsule", project+"-"+stack, "gitlab-ca.pem")
}

// writeFileIfChanged writes data to path (parents 0700, file 0600) unless it
// already holds exactly that, replacing it atomically.
func writeFileIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gitlab-ca-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// optionalString is s as an optional input: nil stays unset.
func optionalString(s pulumi.StringInput) pulumi.StringPtrInput {
	if s == nil {
		return nil
	}
	return s.ToStringOutput().ToStringPtrOutput()
}

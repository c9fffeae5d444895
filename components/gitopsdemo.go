package components

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/pulumi/pulumi-gitlab/sdk/v6/go/gitlab"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GitOpsDemoArgs configures a GitOpsDemo.
type GitOpsDemoArgs struct {
	// Cluster is the cluster's name in the stack: its manifests go to
	// DemoRepoDirOf(Cluster) and its deploy token is its own.
	Cluster string
	// GitLabProvider talks to GitLab (the Agent's, through its tunnel).
	GitLabProvider *gitlab.Provider
	// Project is the agent's configuration project: the manifests are
	// committed there because agentk sets up push notifications only for
	// GitRepositories that point at its configuration project (or at public
	// projects), and the demo's project stays private.
	Project *gitlab.Project
	// CommitAfter are what the demo's commits wait for (the Agent): GitLab
	// refuses concurrent commits to one branch, and the agent's config file
	// goes to the same project. The cluster side does not wait for them.
	CommitAfter []pulumi.Resource
	// GitLabURL is GitLab's web URL on its private address (from
	// GitLabHost), the base of the clone URL Flux uses inside the cluster.
	GitLabURL pulumi.StringInput
	// TLS says GitLab serves HTTPS with the private CA; CACert is that CA
	// (PEM), given to source-controller as ca.crt. "" without TLS.
	TLS    bool
	CACert pulumi.StringInput

	// KubernetesProvider deploys into the cluster (from Kapsule).
	KubernetesProvider *kubernetes.Provider
	// Flux is the Flux installation the demo's objects go into, in its namespace.
	Flux *Flux
	// DemoNamespace is where the manifests put nginx; it must already exist
	// (the Agent creates it). config.GitOpsDemoNamespace when empty.
	DemoNamespace string

	// Interval and Timeout are gitops:interval and gitops:timeout; their
	// defaults when zero.
	Interval, Timeout time.Duration
}

// GitOpsDemo is nginx synced from GitLab to the cluster by Flux: the
// manifests and a read-only deploy token in GitLab; Flux's controllers, the
// token Secret, a GitRepository and a Kustomization in the cluster. It is
// created only once the Kustomization is Ready, that is once nginx is
// applied and its Deployment available.
type GitOpsDemo struct {
	pulumi.ResourceState

	// Namespace is where nginx runs, e.g. "gitops-demo".
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// CheckCommand shows the synced objects: kubectl -n gitops-demo get deploy,svc.
	CheckCommand pulumi.StringOutput `pulumi:"checkCommand"`
	// CloneURL is what Flux clones, on GitLab's private address.
	CloneURL pulumi.StringOutput `pulumi:"cloneUrl"`
	// ManifestsURL is the demo's folder in GitLab's web UI: edit a file there
	// and watch it roll out.
	ManifestsURL pulumi.StringOutput `pulumi:"manifestsUrl"`
	// ReadyRevision is the revision the Kustomization last applied.
	ReadyRevision pulumi.StringOutput `pulumi:"readyRevision"`
	// LastCommit is the demo's last commit to the project: later commits
	// wait for it, since GitLab refuses concurrent commits to a branch.
	LastCommit pulumi.Resource
}

// NewGitOpsDemo commits the demo manifests to the agent's configuration
// project, installs Flux, points it at the project over the private network
// and waits until the demo is applied and healthy.
func NewGitOpsDemo(ctx *pulumi.Context, name string, args *GitOpsDemoArgs, opts ...pulumi.ResourceOption) (*GitOpsDemo, error) {
	if args == nil || args.GitLabProvider == nil || args.Project == nil || args.GitLabURL == nil ||
		args.KubernetesProvider == nil || args.Flux == nil {
		return nil, fmt.Errorf("gitops demo %q: GitLabProvider, Project, GitLabURL, KubernetesProvider and Flux are required", name)
	}
	a := *args
	if a.DemoNamespace == "" {
		a.DemoNamespace = config.GitOpsDemoNamespace
	}
	if a.Interval == 0 {
		a.Interval = config.Defaults().GitOps.Interval
	}
	if a.Timeout == 0 {
		a.Timeout = config.Defaults().GitOps.Timeout
	}
	if a.Interval < 0 || a.Timeout < 0 {
		return nil, fmt.Errorf("gitops demo %q: Interval %s and Timeout %s must be positive (gitops:interval, gitops:timeout)", name, a.Interval, a.Timeout)
	}
	if a.TLS && a.CACert == nil {
		return nil, fmt.Errorf("gitops demo %q: TLS is on but CACert is missing: pass GitLabHost's CACert", name)
	}
	dir := DemoRepoDirOf(a.Cluster)
	files, err := DemoFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("gitops demo %q: %w", name, err)
	}

	comp := &GitOpsDemo{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:GitOpsDemo", name, comp, opts...); err != nil {
		return nil, err
	}
	onGitLab := []pulumi.ResourceOption{pulumi.Parent(comp), pulumi.Provider(a.GitLabProvider)}
	onCluster := []pulumi.ResourceOption{pulumi.Parent(comp), pulumi.Provider(a.KubernetesProvider)}

	// GitLab side: the manifests, and a token that can only clone.
	// One commit after the other: GitLab refuses concurrent commits to a branch.
	var committed []pulumi.Resource
	prev := a.CommitAfter
	for _, f := range files {
		base := strings.TrimSuffix(path.Base(f.RepoPath), ".yaml")
		// Once committed, the file is the user's: edits in GitLab are the
		// GitOps loop, and the next `up` must not revert them.
		fileOpts := append(slices.Clone(onGitLab), pulumi.IgnoreChanges([]string{"content"}), pulumi.DependsOn(prev))
		file, err := gitlab.NewRepositoryFile(ctx, name+"-file-"+base, &gitlab.RepositoryFileArgs{
			Project:           a.Project.ID().ToStringOutput(),
			Branch:            a.Project.DefaultBranch,
			FilePath:          pulumi.String(f.RepoPath),
			Content:           pulumi.String(f.Content),
			Encoding:          pulumi.String("text"),
			CommitMessage:     pulumi.String("GitOps demo: " + f.RepoPath + " (gitlab-kapsule)"),
			AuthorName:        pulumi.String("gitlab-kapsule"),
			AuthorEmail:       pulumi.String("gitlab-kapsule@localhost"),
			OverwriteOnCreate: pulumi.Bool(true),
		}, fileOpts...)
		if err != nil {
			return nil, fmt.Errorf("gitops demo %q: manifest %s: %w", name, f.RepoPath, err)
		}
		committed = append(committed, file)
		prev = []pulumi.Resource{file}
	}
	token, err := gitlab.NewDeployToken(ctx, name+"-deploy-token", &gitlab.DeployTokenArgs{
		Project:  a.Project.ID().ToStringOutput(),
		Name:     pulumi.String(ClusterResourceName("flux-"+DemoName, a.Cluster)),
		Username: pulumi.String(ClusterResourceName("flux-"+DemoName, a.Cluster)),
		Scopes:   pulumi.ToStringArray([]string{DeployTokenScope}),
		// Whatever the SDK version marks, the token never reaches the state
		// or the console in plain text.
	}, append(onGitLab, pulumi.AdditionalSecretOutputs([]string{"token"}))...)
	if err != nil {
		return nil, fmt.Errorf("gitops demo %q: deploy token: %w", name, err)
	}

	cloneURL := pulumi.All(a.GitLabURL, a.Project.PathWithNamespace).ApplyT(func(v []any) string {
		return DemoCloneURL(v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)
	var caCert pulumi.StringInput
	if a.TLS {
		caCert = a.CACert
	}
	flux, err := DeclareFluxSync(ctx, name, &FluxSyncArgs{
		FluxNamespace: a.Flux.NamespaceValue,
		DemoNamespace: a.DemoNamespace,
		Interval:      a.Interval,
		Timeout:       a.Timeout,
		Path:          dir,
		CloneURL:      cloneURL,
		Branch:        a.Project.DefaultBranch,
		Username:      token.Username,
		Password:      token.Token,
		CACert:        caCert,
		// The CRDs come with the release; the manifests must be committed
		// before Flux first looks.
		Namespace: a.Flux.Namespace,
		After:     append(slices.Clone(a.Flux.Installed), committed...),
	}, onCluster...)
	if err != nil {
		return nil, err
	}
	kustomization := flux.Kustomization
	comp.LastCommit = committed[len(committed)-1]

	comp.Namespace = after(pulumi.String(a.DemoNamespace), kustomization.ID())
	comp.CheckCommand = pulumi.Sprintf("kubectl -n %s get deploy,svc", comp.Namespace)
	comp.CloneURL = cloneURL
	comp.ManifestsURL = pulumi.Sprintf("%s/-/tree/%s/%s", a.Project.WebUrl, a.Project.DefaultBranch, dir)
	comp.ReadyRevision = kustomization.OtherFields.ApplyT(func(v any) string {
		m, _ := v.(map[string]any)
		status, _ := m["status"].(map[string]any)
		rev, _ := status["lastAppliedRevision"].(string)
		return rev
	}).(pulumi.StringOutput)
	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{
		"namespace":     comp.Namespace,
		"checkCommand":  comp.CheckCommand,
		"cloneUrl":      comp.CloneURL,
		"manifestsUrl":  comp.ManifestsURL,
		"readyRevision": comp.ReadyRevision,
	}); err != nil {
		return nil, err
	}
	return comp, nil
}

// FluxSyncArgs configures DeclareFluxSync.
type FluxSyncArgs struct {
	// FluxNamespace is where the Secret, GitRepository and Kustomization live;
	// Namespace is that namespace's resource.
	FluxNamespace string
	// DemoNamespace is where the synced objects are.
	DemoNamespace string
	// Interval is Flux's polling interval and Timeout bounds an apply and
	// `up`'s wait for Ready.
	Interval, Timeout time.Duration
	// Path is the repository folder the Kustomization applies (DemoRepoDirOf).
	Path string
	// CloneURL and Branch say what Flux clones.
	CloneURL, Branch pulumi.StringInput
	// Username and Password are the deploy token (Password is kept secret).
	Username, Password pulumi.StringInput
	// CACert, when set, is the private CA Flux trusts for the clone.
	CACert    pulumi.StringInput
	Namespace pulumi.Resource
	// After are what the GitRepository and Kustomization also wait for:
	// Flux's CRDs (its release) and the commits. The Role and the Secret
	// need only the namespace, so they go in at once.
	After []pulumi.Resource
}

// FluxSyncResources are the objects DeclareFluxSync creates.
type FluxSyncResources struct {
	Secret                       *corev1.Secret
	GitRepository, Kustomization *apiextensions.CustomResource
}

// DeclareFluxSync declares, with no component of its own, the cluster side
// of the GitOps loop that needs neither a chart nor GitLab: the Secret with
// the deploy token (and CA), the GitRepository and the Kustomization, both
// awaited until Flux reports them Ready. opts carry the Kubernetes provider
// and the parent; the engine tests run it against a real API server.
func DeclareFluxSync(ctx *pulumi.Context, name string, args *FluxSyncArgs, opts ...pulumi.ResourceOption) (*FluxSyncResources, error) {
	labels := managedLabelArgs()
	if args.Namespace == nil {
		return nil, fmt.Errorf("gitops demo %q: Namespace is required: pass the resource of Flux's namespace", name)
	}
	if args.Interval <= 0 || args.Timeout <= 0 {
		return nil, fmt.Errorf("gitops demo %q: Interval and Timeout must be positive (gitops:interval, gitops:timeout)", name)
	}
	inNamespace := append(slices.Clone(opts), pulumi.DependsOn([]pulumi.Resource{args.Namespace}))
	after := append(slices.Clone(inNamespace), pulumi.DependsOn(args.After))
	fluxNS := pulumi.String(args.FluxNamespace)

	stringData := pulumi.StringMap{
		"username": args.Username,
		"password": pulumi.ToSecret(args.Password).(pulumi.StringOutput),
	}
	if args.CACert != nil {
		stringData["ca.crt"] = args.CACert
	}
	secret, err := corev1.NewSecret(ctx, name+"-auth", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(DemoAuthSecret), Namespace: fluxNS, Labels: labels},
		Type:       pulumi.String("Opaque"),
		StringData: stringData,
	}, append(inNamespace, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))...)
	if err != nil {
		return nil, fmt.Errorf("gitops demo %q: auth secret: %w", name, err)
	}

	sync := pulumi.All(args.CloneURL, args.Branch).ApplyT(func(v []any) FluxSync {
		return FluxSync{URL: v[0].(string), Branch: v[1].(string), Namespace: args.FluxNamespace, DemoNamespace: args.DemoNamespace,
			Interval: args.Interval, Timeout: args.Timeout, Path: args.Path}
	})
	spec := func(f func(FluxSync) map[string]any) pulumi.MapOutput {
		return sync.ApplyT(func(s any) map[string]any { return f(s.(FluxSync)) }).(pulumi.MapOutput)
	}
	// pulumi-kubernetes awaits custom resources only generically: these
	// annotations make `up` wait for Flux's own Ready condition.
	awaitMeta := func() *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{
			Name: pulumi.String(DemoName), Namespace: fluxNS, Labels: labels,
			Annotations: pulumi.StringMap{
				"pulumi.com/waitFor":        pulumi.String("condition=Ready"),
				"pulumi.com/timeoutSeconds": pulumi.String(strconv.Itoa(int(args.Timeout.Seconds()) + 120)),
			},
		}
	}
	// Each Flux object waits for the one it reads: the source for its
	// Secret, the Kustomization for its source.
	declare := func(suffix, apiVersion, kind string, specOf func(FluxSync) map[string]any, reads pulumi.Resource) (*apiextensions.CustomResource, error) {
		cr, err := apiextensions.NewCustomResource(ctx, name+suffix, &apiextensions.CustomResourceArgs{
			ApiVersion:  pulumi.String(apiVersion),
			Kind:        pulumi.String(kind),
			Metadata:    awaitMeta(),
			OtherFields: kubernetes.UntypedArgs{"spec": spec(specOf)},
		}, append(after, pulumi.DependsOn([]pulumi.Resource{reads}))...)
		if err != nil {
			return nil, fmt.Errorf("gitops demo %q: %s: %w", name, kind, err)
		}
		return cr, nil
	}
	repo, err := declare("-source", GitRepositoryAPIVersion, "GitRepository", FluxSync.GitRepositorySpec, secret)
	if err != nil {
		return nil, err
	}
	kustomization, err := declare("-sync", KustomizationAPIVersion, "Kustomization", FluxSync.KustomizationSpec, repo)
	if err != nil {
		return nil, err
	}
	return &FluxSyncResources{Secret: secret, GitRepository: repo, Kustomization: kustomization}, nil
}

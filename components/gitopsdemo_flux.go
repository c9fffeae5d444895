package components

import (
	"cmp"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/manifests"
)

// Fixed parts of the GitOps demo.
const (
	// FluxChartRepo is the fluxcd-community Helm repository.
	FluxChartRepo = "https://fluxcd-community.github.io/helm-charts"
	// FluxChart is Flux's chart in it.
	FluxChart = "flux2"
	// DemoName names the demo's GitRepository, Kustomization and auth Secret.
	DemoName = "gitops-demo"
	// DemoAuthSecret holds the deploy token (username, password) and, with
	// TLS, GitLab's CA (ca.crt), as source-controller reads them.
	DemoAuthSecret = "gitops-demo-auth"
	// DemoRepoDir is the demo manifests' folder in the agent's configuration
	// project for the cluster named config.DefaultClusterName (DemoRepoDirOf).
	DemoRepoDir = "manifests/gitops-demo"
	// DemoDeployment is the demo's Deployment, health-checked with every
	// other object the Kustomization applies (spec.wait).
	DemoDeployment = "nginx"
	// DeployTokenScope lets the token clone the project and nothing else.
	DeployTokenScope = "read_repository"
)

// Flux API versions the demo's objects use (Flux 2.x GA APIs).
const (
	GitRepositoryAPIVersion = "source.toolkit.fluxcd.io/v1"
	KustomizationAPIVersion = "kustomize.toolkit.fluxcd.io/v1"
)

// FluxWebhookReceiverURL is the flux chart's webhook-receiver Service in
// Flux's namespace, where agentk sends push notifications (agent config key
// flux.webhook_receiver_url; in flux-system it is GitLab's documented default).
func FluxWebhookReceiverURL(fluxNamespace string) string {
	return "http://webhook-receiver." + fluxNamespace + ".svc.cluster.local"
}

// DemoRepoDirOf is a cluster's demo folder in the configuration project:
// DemoRepoDir for the one-cluster stack's cluster, where it always was, and
// clusters/<cluster>/gitops-demo for the others (the layout Flux's own
// repositories use), so that a commit to one folder rolls out to one
// cluster. No folder is inside another, since Flux applies a folder with
// every folder under it.
func DemoRepoDirOf(cluster string) string {
	if isDefaultCluster(cluster) {
		return DemoRepoDir
	}
	return "clusters/" + cluster + "/" + DemoName
}

// FluxSync describes the demo's Flux objects; GitRepositorySpec and
// KustomizationSpec turn it into the objects' specs. The component and the
// envtest tests (tests/k8s) render through the same functions.
type FluxSync struct {
	// URL is the project's HTTPS clone URL on GitLab's private address.
	URL string
	// Branch is the branch Flux follows, the project's default.
	Branch string
	// Namespace is where the GitRepository and Kustomization live (flux-system).
	Namespace string
	// DemoNamespace is where the applied objects are (gitops-demo).
	DemoNamespace string
	// Interval and Timeout are gitops:interval and gitops:timeout.
	Interval, Timeout time.Duration
	// Path is the folder the Kustomization applies; DemoRepoDir when empty.
	Path string
}

// fluxDuration writes d as Flux's specs take it, without the zero units Go
// adds ("1m", not "1m0s"), so a value reads as the user wrote it.
func fluxDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// GitRepositorySpec is the GitRepository's spec: the branch, polled every
// Interval, with the deploy token (and CA) from DemoAuthSecret.
func (s FluxSync) GitRepositorySpec() map[string]any {
	return map[string]any{
		"url":       s.URL,
		"ref":       map[string]any{"branch": s.Branch},
		"interval":  fluxDuration(s.Interval),
		"timeout":   "60s",
		"secretRef": map[string]any{"name": DemoAuthSecret},
	}
}

// KustomizationSpec is the Kustomization's spec: apply the demo folder with
// pruning and wait for every object it applies, the Deployment included, to
// be healthy. wait alone does it: "If set to `true`, `.spec.healthChecks` is
// ignored" (fluxcd/kustomize-controller docs/spec/v1/kustomizations.md,
// "Wait"), so the spec lists no healthChecks.
func (s FluxSync) KustomizationSpec() map[string]any {
	return map[string]any{
		"interval":      fluxDuration(s.Interval),
		"retryInterval": "30s",
		"timeout":       fluxDuration(s.Timeout),
		"path":          "./" + cmp.Or(s.Path, DemoRepoDir),
		"prune":         true,
		"wait":          true,
		"sourceRef":     map[string]any{"kind": "GitRepository", "name": DemoName, "namespace": s.Namespace},
	}
}

// Objects returns the GitRepository and the Kustomization as unstructured
// objects, with the await annotations `pulumi up` uses.
func (s FluxSync) Objects() []map[string]any {
	meta := func() map[string]any {
		return map[string]any{"name": DemoName, "namespace": s.Namespace, "labels": map[string]any{managedByLabel: managedByValue}}
	}
	return []map[string]any{
		{"apiVersion": GitRepositoryAPIVersion, "kind": "GitRepository", "metadata": meta(), "spec": s.GitRepositorySpec()},
		{"apiVersion": KustomizationAPIVersion, "kind": "Kustomization", "metadata": meta(), "spec": s.KustomizationSpec()},
	}
}

// DemoCloneURL is the HTTPS clone URL of a project on GitLab's private
// address: Flux clones over the private network, never through a tunnel.
func DemoCloneURL(gitlabURL, projectPath string) string {
	return strings.TrimSuffix(gitlabURL, "/") + "/" + projectPath + ".git"
}

// DemoFile is one embedded manifest and its path in the GitLab repository.
type DemoFile struct {
	// RepoPath is the file's path in the repository, in its cluster's folder.
	RepoPath string
	// Content is the file as embedded.
	Content string
}

// DemoFiles lists the embedded demo manifests, sorted by path, as they go
// into the folder dir of the repository (DemoRepoDirOf).
func DemoFiles(dir string) ([]DemoFile, error) {
	names, err := fs.Glob(manifests.Demo, manifests.DemoDir+"/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list the demo manifests: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no demo manifest is embedded under manifests/%s", manifests.DemoDir)
	}
	sort.Strings(names)
	files := make([]DemoFile, 0, len(names))
	for _, n := range names {
		raw, err := fs.ReadFile(manifests.Demo, n)
		if err != nil {
			return nil, fmt.Errorf("read the demo manifest %s: %w", n, err)
		}
		files = append(files, DemoFile{RepoPath: dir + "/" + path.Base(n), Content: string(raw)})
	}
	return files, nil
}

// FluxHelmValues are the flux2 chart values this program sets: only the
// controllers the demo needs (source, kustomize, notification), with the
// CRDs installed by the release, so that deleting it removes them.
func FluxHelmValues() map[string]any {
	off := map[string]any{"create": false}
	return map[string]any{
		"installCRDs":               true,
		"helmController":            off,
		"imageAutomationController": off,
		"imageReflectionController": off,
		"sourceController":          map[string]any{"create": true},
		"kustomizeController":       map[string]any{"create": true},
		"notificationController":    map[string]any{"create": true},
	}
}

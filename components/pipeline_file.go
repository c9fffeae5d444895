package components

import (
	"fmt"
	"slices"

	"sigs.k8s.io/yaml"
)

// Fixed parts of the CI demo: a pipeline in the agents' configuration
// project (which every agent's ci_access lists) with one job per cluster
// that deploys through that cluster's agent.
const (
	// CIFilePath is the pipeline's file in the configuration project.
	CIFilePath = ".gitlab-ci.yml"
	// CIJobImage runs the jobs, and the runner's jobs that name no image:
	// the Kubernetes executor starts every build container with `sh -c`
	// (gitlab-runner v18.5.0 shells/bash.go DockerCommand), so the image
	// needs a shell. Kubernetes' own kubectl image has none (built on
	// go-runner, which is distroless: kubernetes build/common.sh), hence
	// Alpine, which follows its 3.22 patch releases under this tag.
	CIJobImage = "alpine:3.22"
	// CIKubectlVersion is the kubectl the jobs download, matching the
	// clusters' minor release (Kubernetes supports kubectl one minor either
	// side), checked against its published SHA-256 as the Kubernetes docs
	// install it ("Install and Set Up kubectl on Linux", "Validate the binary").
	CIKubectlVersion = "v1.36.2"
	// CIDemoName is the Deployment the jobs roll out.
	CIDemoName = "ci-demo"
	// CIDemoImage is what it runs: the GitOps demo's pinned nginx, which
	// runs as non-root (manifests/demo/deployment.yaml).
	CIDemoImage = "nginxinc/nginx-unprivileged:1.27.3-alpine"
	// ciKubeconfigCluster is the cluster entry GitLab names in the
	// kubeconfig it gives CI jobs ("gitlab"; its contexts are
	// "<project>:<agent>", GitLab docs "Using GitLab CI/CD with a
	// Kubernetes cluster").
	ciKubeconfigCluster = "gitlab"
)

// CIJob is one cluster's deploy job.
type CIJob struct {
	// Cluster names the job, deploy-<cluster>.
	Cluster string
	// KubeContext is the agent's context, "<project path>:<agent name>".
	KubeContext string
	// Namespace is where the job deploys: the agent's ci_access default
	// namespace, one the agent may deploy to.
	Namespace string
}

type ciJob struct {
	Stage     string            `json:"stage"`
	Image     string            `json:"image"`
	Variables map[string]string `json:"variables"`
	Script    []string          `json:"script"`
	Rules     []map[string]any  `json:"rules"`
}

// installKubectl downloads CIKubectlVersion for the node's architecture and
// checks it against the checksum published beside it before using it.
var installKubectl = []string{
	`arch=$(uname -m | sed -e s/x86_64/amd64/ -e s/aarch64/arm64/)`,
	`wget -q "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl" "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl.sha256"`,
	`echo "$(cat kubectl.sha256)  kubectl" | sha256sum -c`,
	`install -m 0755 kubectl /usr/local/bin/kubectl`,
}

// RenderCIFile returns the demo pipeline: for each cluster a job on the
// default branch that installs a checked kubectl, selects the cluster's agent context, trusts GitLab's
// private CA for the agent's Kubernetes proxy when GitLab serves one (the
// runner hands jobs the CA as CI_SERVER_TLS_CA_FILE), applies the ci-demo
// Deployment and waits for its rollout.
func RenderCIFile(jobs []CIJob, tls bool) (string, error) {
	f := map[string]any{"stages": []string{"deploy"}}
	names := make([]string, 0, len(jobs))
	for _, j := range jobs {
		name := "deploy-" + j.Cluster
		if slices.Contains(names, name) {
			return "", fmt.Errorf("render the CI file: two jobs for cluster %q", j.Cluster)
		}
		names = append(names, name)
		script := append(slices.Clone(installKubectl), `kubectl config use-context "$KUBE_CONTEXT"`)
		if tls {
			script = append(script, fmt.Sprintf(`kubectl config set-cluster %s --certificate-authority="$CI_SERVER_TLS_CA_FILE"`, ciKubeconfigCluster))
		}
		script = append(script,
			fmt.Sprintf(`kubectl create deployment %s --image=%s --dry-run=client -o yaml | kubectl apply -n "$DEPLOY_NAMESPACE" -f -`, CIDemoName, CIDemoImage),
			fmt.Sprintf(`kubectl -n "$DEPLOY_NAMESPACE" rollout status deployment/%s --timeout=300s`, CIDemoName),
		)
		f[name] = ciJob{
			Stage:     "deploy",
			Image:     CIJobImage,
			Variables: map[string]string{"KUBE_CONTEXT": j.KubeContext, "DEPLOY_NAMESPACE": j.Namespace, "KUBECTL_VERSION": CIKubectlVersion},
			Script:    script,
			Rules:     []map[string]any{{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}},
		}
	}
	out, err := yaml.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("render the CI file: %w", err)
	}
	return "# Managed by gitlab-kapsule (Pulumi): each job deploys through one cluster's agent.\n" +
		"# Edits here are overwritten by the next `up`; add your own pipelines in other projects (README).\n" + string(out), nil
}

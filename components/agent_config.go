package components

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// AgentConfigFile is the agent's configuration file, committed to
// .gitlab/agents/<name>/config.yaml in its configuration project. Its keys
// are checked against the agent's configuration schema in a test
// (testdata/agent-config-keys.txt): the removed `gitops` keyword, or a typo,
// cannot slip in.
type AgentConfigFile struct {
	// CIAccess lets CI jobs of the listed projects use the agent's
	// Kubernetes context, named "<project path>:<agent name>".
	CIAccess *AgentCIAccess `json:"ci_access,omitempty"`
	// Flux configures how agentk notifies Flux of pushes: it creates a
	// Receiver for each Flux GitRepository that points at a project it may
	// reach, and calls it on every push.
	Flux *AgentFlux `json:"flux,omitempty"`
}

// AgentFlux is the flux section.
type AgentFlux struct {
	// WebhookReceiverURL is the notification-controller's webhook-receiver
	// Service (GitLab docs "Using Flux for GitOps"), FluxWebhookReceiverURL.
	WebhookReceiverURL string `json:"webhook_receiver_url,omitempty"`
}

// AgentCIAccess is the ci_access section.
type AgentCIAccess struct {
	// Projects are the projects whose CI jobs may use the agent.
	Projects []AgentCIProject `json:"projects,omitempty"`
}

// AgentCIProject authorizes one project's CI jobs.
type AgentCIProject struct {
	// ID is the project's full path, e.g. "root/kubernetes-agent".
	ID string `json:"id"`
	// DefaultNamespace is the namespace the jobs' context points at.
	DefaultNamespace string `json:"default_namespace,omitempty"`
}

// AgentConfigPath is where GitLab looks for an agent's configuration file.
func AgentConfigPath(agentName string) string {
	return fmt.Sprintf(".gitlab/agents/%s/config.yaml", agentName)
}

// RenderAgentConfig returns the configuration file of an agent whose
// configuration project is projectPath: CI jobs of that project and of
// ciProjects (agent:ciAccessProjects) may use the agent, in the first of
// namespaces by default, and push notifications go to the webhook receiver
// of Flux in fluxNamespace (named explicitly, though in flux-system it is
// GitLab's default, so the GitOps demo's path is visible in the file).
func RenderAgentConfig(projectPath string, namespaces []string, fluxNamespace string, ciProjects ...string) (string, error) {
	var projects []AgentCIProject
	for _, id := range append([]string{projectPath}, ciProjects...) {
		p := AgentCIProject{ID: id}
		if len(namespaces) > 0 {
			p.DefaultNamespace = namespaces[0]
		}
		projects = append(projects, p)
	}
	out, err := yaml.Marshal(AgentConfigFile{
		CIAccess: &AgentCIAccess{Projects: projects},
		Flux:     &AgentFlux{WebhookReceiverURL: FluxWebhookReceiverURL(fluxNamespace)},
	})
	if err != nil {
		return "", fmt.Errorf("render the agent configuration: %w", err)
	}
	return "# Managed by gitlab-kapsule (Pulumi): edits here are overwritten by the next `up`.\n" + string(out), nil
}

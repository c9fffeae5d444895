package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pulumi/pulumi-go-provider/infer"
)

// Defaults of AgentConnected's optional inputs.
const (
	// DefaultAgentTimeout covers pulling the agentk image and its first connection.
	DefaultAgentTimeout = "15m"
	// graphQLPath is GitLab's GraphQL endpoint.
	graphQLPath = "/api/graphql"
)

// ErrAgentNotConnected is matched (errors.Is) by the error of a wait for an
// agent connection that ran out of time.
var ErrAgentNotConnected = errors.New("agent not connected")

// agentConnectionsQuery lists an agent's active connections. The REST agent
// endpoint has no connection status; GraphQL's ClusterAgent.connections does.
const agentConnectionsQuery = `query($fullPath: ID!, $name: String!) {
  project(fullPath: $fullPath) {
    clusterAgent(name: $name) {
      id
      connections { nodes { connectedAt metadata { version podName } } }
    }
  }
}`

// AgentConnected is the resource that, on create, waits until GitLab reports
// an active connection of a GitLab agent for Kubernetes, asking GitLab's
// GraphQL API through the Public Gateway's SSH bastion. Its Check, Create,
// Diff, Update and Read are lifecycle's.
type AgentConnected struct {
	lifecycle[AgentConnectedArgs, AgentStatus, AgentConnectedState, *AgentConnectedState]
}

// AgentConnectedArgs are AgentConnected's inputs.
type AgentConnectedArgs struct {
	Access
	// Token is a personal access token that may read the agent (api or read_api scope).
	Token string `pulumi:"token" provider:"secret"`
	// ProjectPath is the agent's configuration project, e.g. "root/kubernetes-agent".
	ProjectPath string `pulumi:"projectPath" diff:"replace"`
	// AgentName is the agent's name in that project.
	AgentName string `pulumi:"agentName" diff:"replace"`
	// TokenID is the id of the agent token agentk uses; a new one means waiting again.
	TokenID string `pulumi:"tokenId,optional" diff:"replace"`
	// GitLabInstanceID is the GitLab host's instance id: a replaced host
	// (its data volume moved over) means waiting for the agent's
	// reconnection again.
	GitLabInstanceID string `pulumi:"gitlabInstanceId,optional" diff:"replace"`
}

// AgentConnectedState is AgentConnected's state: its inputs and what the wait saw.
type AgentConnectedState struct {
	AgentConnectedArgs
	// ConnectedAt is when the first connection seen was established (RFC 3339).
	ConnectedAt string `pulumi:"connectedAt"`
	// Connections is the number of active agentk connections seen.
	Connections int `pulumi:"connections"`
	// AgentVersion is the agentk version the connection reported, or "".
	AgentVersion string `pulumi:"agentVersion"`
	Trusted
}

// Annotate gives the resource its token and description.
func (r *AgentConnected) Annotate(a infer.Annotator) {
	annotateResource(a, r, "AgentConnected", "Waits, when created, until GitLab's GraphQL API lists an active connection of the named "+
		"GitLab agent for Kubernetes, asking through the Public Gateway's SSH bastion. "+replacedBy(replaceKeys[AgentConnectedArgs]())+".")
}

// Annotate documents AgentConnected's own inputs and sets their defaults.
func (a *AgentConnectedArgs) Annotate(an infer.Annotator) {
	an.SetDefault(&a.Timeout, DefaultAgentTimeout)
	an.Describe(&a.Token, "A personal access token that may read the agent (scope api or read_api).")
	an.Describe(&a.ProjectPath, "The full path of the agent's configuration project, e.g. root/kubernetes-agent.")
	an.Describe(&a.AgentName, "The agent's name in that project.")
	an.Describe(&a.TokenID, "The id of the agent token agentk authenticates with: a new token means waiting again.")
	an.Describe(&a.GitLabInstanceID, "The GitLab host's instance id: a replaced host means waiting for the agent to reconnect again.")
}

// Annotate documents the outputs.
func (s *AgentConnectedState) Annotate(an infer.Annotator) {
	an.Describe(&s.ConnectedAt, "When the first active connection seen was established (RFC 3339).")
	an.Describe(&s.Connections, "The number of active agentk connections seen.")
	an.Describe(&s.AgentVersion, "The agentk version a connection reported, empty if unknown.")
}

// withDefaults fills the optional inputs that are empty.
func (a AgentConnectedArgs) withDefaults() AgentConnectedArgs {
	a.Access = a.Access.withDefaults(DefaultAgentTimeout)
	return a
}

// validate checks every input whose value f says is known.
func (a AgentConnectedArgs) validate(f *fieldErrors) {
	a.Access.validate(f)
	if a.Token == "" {
		f.add("token", "is empty: pass a personal access token that may read the agent")
	}
	if a.ProjectPath == "" || strings.HasPrefix(a.ProjectPath, "/") || !strings.Contains(a.ProjectPath, "/") {
		f.add("projectPath", "%q is not a project's full path such as root/kubernetes-agent", a.ProjectPath)
	}
	if a.AgentName == "" {
		f.add("agentName", "is empty: pass the agent's name")
	}
}

// id is the resource's name and the agent's project and name.
func (a AgentConnectedArgs) id(name string) string {
	return name + ":" + a.ProjectPath + ":" + a.AgentName
}

// plan's poller sends agentConnectionsQuery for the agent.
func (a AgentConnectedArgs) plan() (plan[AgentStatus], error) {
	a, err := validInputs("AgentConnected", a)
	if err != nil {
		return plan[AgentStatus]{}, err
	}
	cfg, err := a.config(graphQLPath, a.Token)
	if err != nil {
		return plan[AgentStatus]{}, err
	}
	query, err := json.Marshal(map[string]any{
		"query":     agentConnectionsQuery,
		"variables": map[string]string{"fullPath": a.ProjectPath, "name": a.AgentName},
	})
	if err != nil {
		return plan[AgentStatus]{}, err
	}
	return plan[AgentStatus]{
		cfg:     cfg,
		poller:  func(s *Session) poller[AgentStatus] { return s.agentConnection(query) },
		subject: fmt.Sprintf("agent %q", a.AgentName),
		waiting: fmt.Sprintf("agent %q of %s to connect, asking GitLab at %s", a.AgentName, a.ProjectPath, cfg.URL),
		done:    "connected",
	}, nil
}

func (s *AgentConnectedState) args() *AgentConnectedArgs { return &s.AgentConnectedArgs }

func (s *AgentConnectedState) saw(res Result[AgentStatus]) {
	s.ConnectedAt, s.Connections, s.AgentVersion = res.Status.ConnectedAt, res.Status.Connections, res.Status.Version
}

// refreshed keeps when the first connection was seen, and the key trusted then.
func (s *AgentConnectedState) refreshed(res Result[AgentStatus]) {
	s.Connections, s.AgentVersion = res.Status.Connections, res.Status.Version
}

// AgentStatus is what one GraphQL answer says about the agent.
type AgentStatus struct {
	// Connected is true when at least one connection is active.
	Connected bool
	// Detail says why the agent does not count as connected.
	Detail string
	// Connections is the number of active connections.
	Connections int
	// ConnectedAt is the first connection's start, as GitLab gave it.
	ConnectedAt string
	// Version is the agentk version the first connection reported.
	Version string
}

func (st AgentStatus) verdict() (bool, string) { return st.Connected, st.Detail }

func (st AgentStatus) summary() string {
	return fmt.Sprintf("%d connections, agentk %s", st.Connections, st.Version)
}

// ParseAgentConnections judges GitLab's answer to agentConnectionsQuery.
func ParseAgentConnections(code int, body []byte) AgentStatus {
	if code != http.StatusOK {
		return AgentStatus{Detail: fmt.Sprintf("GraphQL answers HTTP %d", code)}
	}
	var doc struct {
		Data struct {
			Project *struct {
				ClusterAgent *struct {
					Connections struct {
						Nodes []struct {
							ConnectedAt string `json:"connectedAt"`
							Metadata    struct {
								Version string `json:"version"`
								PodName string `json:"podName"`
							} `json:"metadata"`
						} `json:"nodes"`
					} `json:"connections"`
				} `json:"clusterAgent"`
			} `json:"project"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return AgentStatus{Detail: "GraphQL answered without a JSON body"}
	}
	switch {
	case len(doc.Errors) > 0:
		return AgentStatus{Detail: "GraphQL error: " + doc.Errors[0].Message}
	case doc.Data.Project == nil:
		return AgentStatus{Detail: "the configuration project is not visible to the token (not created yet, or not readable)"}
	case doc.Data.Project.ClusterAgent == nil:
		return AgentStatus{Detail: "the agent is not registered in the configuration project"}
	}
	nodes := doc.Data.Project.ClusterAgent.Connections.Nodes
	if len(nodes) == 0 {
		return AgentStatus{Detail: "the agent is registered but no agentk is connected yet (image pull, KAS address, CA or token)"}
	}
	return AgentStatus{Connected: true, Connections: len(nodes), ConnectedAt: nodes[0].ConnectedAt, Version: nodes[0].Metadata.Version}
}

// PollAgent makes one GraphQL request for the agent's connections.
func (s *Session) PollAgent(ctx context.Context, query []byte) (AgentStatus, error) {
	code, body, err := s.request(ctx, http.MethodPost, s.cfg.URL, query, credential{"Authorization", "Bearer " + s.cfg.Token})
	if err != nil {
		return AgentStatus{}, err
	}
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		return AgentStatus{}, permanent(fmt.Errorf("GitLab refuses the token (HTTP %d) for GraphQL at %s: "+
			"pass a personal access token with scope api or read_api", code, s.host))
	}
	return ParseAgentConnections(code, body), nil
}

// WaitAgent polls until the agent is connected, the timeout passes, a
// permanent error happens or ctx ends, whichever comes first.
func (s *Session) WaitAgent(ctx context.Context, query []byte) (Result[AgentStatus], error) {
	return waitFor(ctx, s, s.agentConnection(query))
}

// agentConnection is AgentConnected's poller: one PollAgent an attempt.
func (s *Session) agentConnection(query []byte) poller[AgentStatus] {
	return poller[AgentStatus]{
		progress: "the agent to connect to GitLab at " + s.host,
		stopped:  "the agent",
		ask:      func(ctx context.Context) (AgentStatus, error) { return s.PollAgent(ctx, query) },
		timedOut: TimeoutError{
			Kind: ErrAgentNotConnected,
			What: "listed no agentk connection",
			Hint: "look at the agentk pods (kubectl -n gitlab-agent logs deploy/...) and at KAS (gitlab-ctl tail gitlab-kas)",
		},
	}
}

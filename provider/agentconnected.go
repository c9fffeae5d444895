package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
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
// GraphQL API through the Public Gateway's SSH bastion.
type AgentConnected struct {
	opts Options
}

// AgentConnectedArgs are AgentConnected's inputs.
type AgentConnectedArgs struct {
	// BastionHost is the Public Gateway's public address.
	BastionHost string `pulumi:"bastionHost"`
	// BastionPort is the SSH bastion's port.
	BastionPort int `pulumi:"bastionPort"`
	// BastionUser is the bastion's login.
	BastionUser string `pulumi:"bastionUser,optional"`
	// PrivateKey is the OpenSSH or PKCS#8 PEM private key the bastion trusts.
	PrivateKey string `pulumi:"privateKey" provider:"secret"`
	// HostKeyFingerprint pins the bastion's host key; empty trusts on first use.
	HostKeyFingerprint string `pulumi:"hostKeyFingerprint,optional"`
	// TargetHost is GitLab's private address.
	TargetHost string `pulumi:"targetHost"`
	// TargetPort is GitLab's HTTP(S) port.
	TargetPort int `pulumi:"targetPort,optional"`
	// Scheme is "http" or "https".
	Scheme string `pulumi:"scheme,optional"`
	// CaCert is the PEM CA of GitLab's certificate, for https.
	CaCert string `pulumi:"caCert,optional"`
	// Token is a personal access token that may read the agent (api or read_api scope).
	Token string `pulumi:"token" provider:"secret"`
	// ProjectPath is the agent's configuration project, e.g. "root/kubernetes-agent".
	ProjectPath string `pulumi:"projectPath"`
	// AgentName is the agent's name in that project.
	AgentName string `pulumi:"agentName"`
	// TokenID is the id of the agent token agentk uses; a new one means waiting again.
	TokenID string `pulumi:"tokenId,optional"`
	// Timeout is the longest wait, as a Go duration.
	Timeout string `pulumi:"timeout,optional"`
	// PollInterval caps the pause between attempts, as a Go duration.
	PollInterval string `pulumi:"pollInterval,optional"`
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
	// BastionHostKeyFingerprint is the bastion host key fingerprint trusted.
	BastionHostKeyFingerprint string `pulumi:"bastionHostKeyFingerprint"`
}

var (
	_ infer.CustomResource[AgentConnectedArgs, AgentConnectedState] = (*AgentConnected)(nil)
	_ infer.CustomCheck[AgentConnectedArgs]                         = (*AgentConnected)(nil)
	_ infer.CustomDiff[AgentConnectedArgs, AgentConnectedState]     = (*AgentConnected)(nil)
	_ infer.CustomUpdate[AgentConnectedArgs, AgentConnectedState]   = (*AgentConnected)(nil)
	_ infer.CustomRead[AgentConnectedArgs, AgentConnectedState]     = (*AgentConnected)(nil)
	_ infer.Annotated                                               = (*AgentConnected)(nil)
	_ infer.Annotated                                               = (*AgentConnectedArgs)(nil)
	_ infer.Annotated                                               = (*AgentConnectedState)(nil)
)

// Annotate gives the resource its token and description.
func (r *AgentConnected) Annotate(a infer.Annotator) {
	a.SetToken("index", "AgentConnected")
	a.Describe(r, "Waits, when created, until GitLab's GraphQL API lists an active connection of the named "+
		"GitLab agent for Kubernetes, asking through the Public Gateway's SSH bastion. A new targetHost, targetPort, "+
		"scheme, projectPath, agentName or tokenId replaces it, which waits again.")
}

// Annotate documents the inputs and sets their defaults.
func (a *AgentConnectedArgs) Annotate(an infer.Annotator) {
	a.access().annotate(an)
	an.Describe(&a.Token, "A personal access token that may read the agent (scope api or read_api).")
	an.Describe(&a.ProjectPath, "The full path of the agent's configuration project, e.g. root/kubernetes-agent.")
	an.Describe(&a.AgentName, "The agent's name in that project.")
	an.Describe(&a.TokenID, "The id of the agent token agentk authenticates with: a new token means waiting again.")
}

// Annotate documents the outputs.
func (s *AgentConnectedState) Annotate(an infer.Annotator) {
	an.Describe(&s.ConnectedAt, "When the first active connection seen was established (RFC 3339).")
	an.Describe(&s.Connections, "The number of active agentk connections seen.")
	an.Describe(&s.AgentVersion, "The agentk version a connection reported, empty if unknown.")
	an.Describe(&s.BastionHostKeyFingerprint, "The SHA256 fingerprint of the bastion host key that was trusted.")
}

// access points at the inputs AgentConnected shares with GitLabReady.
func (a *AgentConnectedArgs) access() access {
	return access{
		BastionHost: &a.BastionHost, BastionPort: &a.BastionPort, BastionUser: &a.BastionUser,
		PrivateKey: &a.PrivateKey, HostKeyFingerprint: &a.HostKeyFingerprint,
		TargetHost: &a.TargetHost, TargetPort: &a.TargetPort, Scheme: &a.Scheme, CaCert: &a.CaCert,
		Timeout: &a.Timeout, PollInterval: &a.PollInterval, DefaultTimeout: DefaultAgentTimeout,
	}
}

// withDefaults fills the optional inputs that are empty.
func (a AgentConnectedArgs) withDefaults() AgentConnectedArgs {
	a.access().fillDefaults()
	return a
}

// validate checks every input whose value f says is known.
func (a AgentConnectedArgs) validate(f *fieldErrors) {
	a.access().validate(f)
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

// agentWait is one AgentConnected wait, checked and defaulted.
type agentWait struct {
	cfg   Config
	query []byte
}

// agentWait checks the inputs, fills the defaults and returns the wait they
// describe, with the GraphQL query it sends.
func (a AgentConnectedArgs) agentWait() (agentWait, error) {
	a, err := validInputs("AgentConnected", a)
	if err != nil {
		return agentWait{}, err
	}
	cfg, err := a.access().config(graphQLPath)
	if err != nil {
		return agentWait{}, err
	}
	cfg.Token = a.Token
	query, err := json.Marshal(map[string]any{
		"query":     agentConnectionsQuery,
		"variables": map[string]string{"fullPath": a.ProjectPath, "name": a.AgentName},
	})
	if err != nil {
		return agentWait{}, err
	}
	return agentWait{cfg: cfg, query: query}, nil
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(query))
	if err != nil {
		return AgentStatus{}, permanent(fmt.Errorf("request %s: %w", s.cfg.URL, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "pulumi-resource-gitlabwait/"+Version)
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	resp, err := s.client.Do(req)
	if err != nil {
		return AgentStatus{}, s.classify(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return AgentStatus{}, fmt.Errorf("reading GitLab's answer: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return AgentStatus{}, permanent(fmt.Errorf("GitLab refuses the token (HTTP %d) for GraphQL at %s: "+
			"pass a personal access token with scope api or read_api", resp.StatusCode, s.host))
	}
	return ParseAgentConnections(resp.StatusCode, body), nil
}

// WaitAgent polls until the agent is connected, the timeout passes, a
// permanent error happens or ctx ends, whichever comes first.
func (s *Session) WaitAgent(ctx context.Context, query []byte) (AgentStatus, int, error) {
	var st AgentStatus
	attempts, err := s.waitFor(ctx, s.agentConnection(query, &st))
	if err != nil {
		return AgentStatus{}, attempts, err
	}
	return st, attempts, nil
}

// agentConnection is AgentConnected's poller: one PollAgent an attempt, its
// answer kept in st.
func (s *Session) agentConnection(query []byte, st *AgentStatus) poller {
	return poller{
		progress: "the agent to connect to GitLab at " + s.host,
		stopped:  "the agent",
		attempt: func(ctx context.Context) (bool, string, error) {
			var err error
			*st, err = s.PollAgent(ctx, query)
			return st.Connected, st.Detail, err
		},
		timedOut: func(attempts int, last string) error {
			return fmt.Errorf("%w: GitLab at %s listed no agentk connection after %s (%d attempts), last: %s: "+
				"look at the agentk pods (kubectl -n gitlab-agent logs deploy/...) and at KAS (gitlab-ctl tail gitlab-kas), or raise timeout",
				ErrAgentNotConnected, s.host, s.cfg.Timeout, attempts, last)
		},
	}
}

// Check applies the defaults and reports invalid inputs by key; values not yet
// known (during a preview) are checked later.
func (r *AgentConnected) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[AgentConnectedArgs], error) {
	return checkInputs[AgentConnectedArgs](ctx, req)
}

// Create waits until GitLab lists an active agent connection. A preview
// (DryRun) dials nothing and leaves the outputs unknown.
func (r *AgentConnected) Create(ctx context.Context, req infer.CreateRequest[AgentConnectedArgs]) (infer.CreateResponse[AgentConnectedState], error) {
	args := req.Inputs.withDefaults()
	state := AgentConnectedState{AgentConnectedArgs: args}
	if req.DryRun {
		return infer.CreateResponse[AgentConnectedState]{Output: state}, nil
	}
	w, err := args.agentWait()
	if err != nil {
		return infer.CreateResponse[AgentConnectedState]{}, err
	}
	log := p.GetLogger(ctx)
	w.cfg.Progress = log.InfoStatus
	log.Infof("waiting for agent %q of %s to connect, asking GitLab at %s through the bastion %s (timeout %s)",
		args.AgentName, args.ProjectPath, w.cfg.URL, w.cfg.BastionAddr, args.Timeout)
	s, err := r.opts.Waiter.Open(w.cfg)
	if err != nil {
		return infer.CreateResponse[AgentConnectedState]{}, err
	}
	defer s.Close()
	st, attempts, err := s.WaitAgent(ctx, w.query)
	if err != nil {
		return infer.CreateResponse[AgentConnectedState]{}, err
	}
	log.Infof("agent %q is connected (%d connections, agentk %s; attempts: %d)", args.AgentName, st.Connections, st.Version, attempts)
	state.ConnectedAt, state.Connections, state.AgentVersion = st.ConnectedAt, st.Connections, st.Version
	state.BastionHostKeyFingerprint = s.HostKeyFingerprint()
	return infer.CreateResponse[AgentConnectedState]{ID: req.Name + ":" + args.ProjectPath + ":" + args.AgentName, Output: state}, nil
}

// agentReplaceKeys are the inputs that name another agent or GitLab: a change waits again.
var agentReplaceKeys = []string{"targetHost", "targetPort", "scheme", "projectPath", "agentName", "tokenId"}

// Diff replaces the resource (and so waits again) when the agent, its token
// or GitLab changes; any other change is an update that waits for nothing.
func (r *AgentConnected) Diff(_ context.Context, req infer.DiffRequest[AgentConnectedArgs, AgentConnectedState]) (infer.DiffResponse, error) {
	return diffInputs(req.State.AgentConnectedArgs.withDefaults().inputMap(), req.Inputs.withDefaults().inputMap(), agentReplaceKeys), nil
}

// inputMap flattens the inputs by key, for comparison.
func (a AgentConnectedArgs) inputMap() map[string]string {
	m := a.access().inputMap()
	m["token"] = a.Token
	m["projectPath"] = a.ProjectPath
	m["agentName"] = a.AgentName
	m["tokenId"] = a.TokenID
	return m
}

// Update records new inputs that do not change what is waited for; it dials nothing.
func (r *AgentConnected) Update(_ context.Context, req infer.UpdateRequest[AgentConnectedArgs, AgentConnectedState]) (infer.UpdateResponse[AgentConnectedState], error) {
	state := req.State
	state.AgentConnectedArgs = req.Inputs.withDefaults()
	return infer.UpdateResponse[AgentConnectedState]{Output: state}, nil
}

// Read returns the recorded state; with GITLABWAIT_RECHECK=true (pulumi
// refresh) it asks GitLab once, and an agent that is not connected makes the
// resource disappear, so the next up waits again.
func (r *AgentConnected) Read(ctx context.Context, req infer.ReadRequest[AgentConnectedArgs, AgentConnectedState]) (infer.ReadResponse[AgentConnectedArgs, AgentConnectedState], error) {
	resp := infer.ReadResponse[AgentConnectedArgs, AgentConnectedState]{ID: req.ID, Inputs: req.Inputs, State: req.State}
	if !r.opts.Recheck(ctx) {
		return resp, nil
	}
	w, err := req.State.AgentConnectedArgs.agentWait()
	if err != nil {
		return resp, err
	}
	s, err := r.opts.Waiter.reopen(w.cfg, req.State.BastionHostKeyFingerprint)
	if err != nil {
		return resp, err
	}
	defer s.Close()
	var st AgentStatus
	connected, why, err := s.once(ctx, s.agentConnection(w.query, &st))
	switch {
	case err != nil:
		return resp, err
	case !connected:
		p.GetLogger(ctx).Warningf("agent %q is not connected (%s): the next up waits for it again", req.State.AgentName, why)
		return infer.ReadResponse[AgentConnectedArgs, AgentConnectedState]{}, nil
	}
	resp.State.Connections, resp.State.AgentVersion = st.Connections, st.Version
	return resp, nil
}

package gitlabwait

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// AgentConnectedType is the resource token served by pulumi-resource-gitlabwait.
const AgentConnectedType = Package + ":index:AgentConnected"

// AgentConnected waits, during create, until GitLab's GraphQL API lists an
// active connection of a GitLab agent for Kubernetes, asking through the
// Public Gateway's SSH bastion.
type AgentConnected struct {
	pulumi.CustomResourceState

	// ConnectedAt is when the first active connection seen was established (RFC 3339).
	ConnectedAt pulumi.StringOutput `pulumi:"connectedAt"`
	// Connections is the number of active agentk connections seen.
	Connections pulumi.IntOutput `pulumi:"connections"`
	// AgentVersion is the agentk version a connection reported, empty if unknown.
	AgentVersion pulumi.StringOutput `pulumi:"agentVersion"`
	// BastionHostKeyFingerprint is the SHA256 fingerprint of the bastion host key that was trusted.
	BastionHostKeyFingerprint pulumi.StringOutput `pulumi:"bastionHostKeyFingerprint"`
}

// AgentConnectedArgs are the inputs of AgentConnected.
type AgentConnectedArgs struct {
	Access
	// Token is a personal access token that may read the agent. Always sent as a secret.
	Token pulumi.StringInput `pulumi:"token"`
	// ProjectPath is the full path of the agent's configuration project.
	ProjectPath pulumi.StringInput `pulumi:"projectPath"`
	// AgentName is the agent's name in that project.
	AgentName pulumi.StringInput `pulumi:"agentName"`
	// TokenId is the id of the agent token agentk uses: a new token means waiting again.
	TokenId pulumi.StringPtrInput `pulumi:"tokenId"`
	// GitlabInstanceId is the GitLab host's instance id: a replaced host means waiting for the agent again.
	GitlabInstanceId pulumi.StringPtrInput `pulumi:"gitlabInstanceId"`
}

// NewAgentConnected registers an AgentConnected resource.
func NewAgentConnected(ctx *pulumi.Context, name string, args *AgentConnectedArgs, opts ...pulumi.ResourceOption) (*AgentConnected, error) {
	if args == nil {
		args = &AgentConnectedArgs{}
	}
	args.PrivateKey, args.Token = secret(args.PrivateKey), secret(args.Token)
	return register[AgentConnected](ctx, AgentConnectedType, name, inputs(args), opts)
}

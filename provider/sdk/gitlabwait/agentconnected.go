package gitlabwait

import (
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

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
	// BastionHost is the Public Gateway's public address.
	BastionHost pulumi.StringInput `pulumi:"bastionHost"`
	// BastionPort is the SSH bastion port (Scaleway's default is 61000).
	BastionPort pulumi.IntInput `pulumi:"bastionPort"`
	// BastionUser is the bastion's login; "bastion" when unset.
	BastionUser pulumi.StringPtrInput `pulumi:"bastionUser"`
	// PrivateKey is the OpenSSH private key the bastion trusts. Always sent as a secret.
	PrivateKey pulumi.StringInput `pulumi:"privateKey"`
	// HostKeyFingerprint pins the bastion's host key (SHA256:...); unset means trust on first use.
	HostKeyFingerprint pulumi.StringPtrInput `pulumi:"hostKeyFingerprint"`
	// TargetHost is GitLab's private address, reached from the bastion.
	TargetHost pulumi.StringInput `pulumi:"targetHost"`
	// TargetPort is GitLab's HTTP(S) port; 80 when unset.
	TargetPort pulumi.IntPtrInput `pulumi:"targetPort"`
	// Scheme is "http" or "https"; "http" when unset.
	Scheme pulumi.StringPtrInput `pulumi:"scheme"`
	// CaCert is the PEM CA that signs GitLab's certificate when Scheme is https.
	CaCert pulumi.StringPtrInput `pulumi:"caCert"`
	// Token is a personal access token that may read the agent. Always sent as a secret.
	Token pulumi.StringInput `pulumi:"token"`
	// ProjectPath is the full path of the agent's configuration project.
	ProjectPath pulumi.StringInput `pulumi:"projectPath"`
	// AgentName is the agent's name in that project.
	AgentName pulumi.StringInput `pulumi:"agentName"`
	// TokenId is the id of the agent token agentk uses: a new token means waiting again.
	TokenId pulumi.StringPtrInput `pulumi:"tokenId"`
	// Timeout is the longest wait as a Go duration; "15m" when unset.
	Timeout pulumi.StringPtrInput `pulumi:"timeout"`
	// PollInterval caps the backoff between attempts as a Go duration; "15s" when unset.
	PollInterval pulumi.StringPtrInput `pulumi:"pollInterval"`
}

// agentConnectedShape is the plain shape of AgentConnectedArgs, for the SDK's marshaller.
var agentConnectedShape = inputShape(reflect.TypeFor[AgentConnectedArgs]())

// ElementType is the plain shape of AgentConnectedArgs, for the SDK's marshaller.
func (AgentConnectedArgs) ElementType() reflect.Type { return agentConnectedShape }

// NewAgentConnected registers an AgentConnected resource.
func NewAgentConnected(ctx *pulumi.Context, name string, args *AgentConnectedArgs, opts ...pulumi.ResourceOption) (*AgentConnected, error) {
	if args == nil {
		args = &AgentConnectedArgs{}
	}
	args.PrivateKey, args.Token = secret(args.PrivateKey), secret(args.Token)
	return register[AgentConnected](ctx, AgentConnectedType, name, args, opts)
}

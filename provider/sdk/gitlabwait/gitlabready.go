package gitlabwait

import (
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GitLabReadyType is the resource token served by pulumi-resource-gitlabwait.
const GitLabReadyType = Package + ":index:GitLabReady"

// GitLabReady waits, during create, until GitLab answers its readiness
// endpoint through the Public Gateway's SSH bastion.
type GitLabReady struct {
	pulumi.CustomResourceState

	// ReadyAt is when GitLab first answered ready (RFC 3339).
	ReadyAt pulumi.StringOutput `pulumi:"readyAt"`
	// Version is the GitLab version seen while waiting, empty if unknown.
	Version pulumi.StringOutput `pulumi:"version"`
	// BastionHostKeyFingerprint is the SHA256 fingerprint of the bastion host key that was trusted.
	BastionHostKeyFingerprint pulumi.StringOutput `pulumi:"bastionHostKeyFingerprint"`
}

// GitLabReadyArgs are the inputs of GitLabReady.
type GitLabReadyArgs struct {
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
	// Path is the readiness path; "/-/readiness?all=1" when unset.
	Path pulumi.StringPtrInput `pulumi:"path"`
	// Timeout is the longest wait as a Go duration; "30m" when unset.
	Timeout pulumi.StringPtrInput `pulumi:"timeout"`
	// PollInterval caps the backoff between attempts as a Go duration; "15s" when unset.
	PollInterval pulumi.StringPtrInput `pulumi:"pollInterval"`
	// InstanceId is the GitLab instance's id: a replaced instance keeps its reserved
	// address, so the id, not the address, says that GitLab must be waited for again.
	InstanceId pulumi.StringPtrInput `pulumi:"instanceId"`
	// Token is a personal access token that must work (GET /api/v4/version)
	// before GitLab counts as ready. Always sent as a secret.
	Token pulumi.StringPtrInput `pulumi:"token"`
}

// gitLabReadyShape is the plain shape of GitLabReadyArgs, for the SDK's marshaller.
var gitLabReadyShape = inputShape(reflect.TypeFor[GitLabReadyArgs]())

// ElementType is the plain shape of GitLabReadyArgs, for the SDK's marshaller.
func (GitLabReadyArgs) ElementType() reflect.Type { return gitLabReadyShape }

// NewGitLabReady registers a GitLabReady resource.
func NewGitLabReady(ctx *pulumi.Context, name string, args *GitLabReadyArgs, opts ...pulumi.ResourceOption) (*GitLabReady, error) {
	if args == nil {
		args = &GitLabReadyArgs{}
	}
	args.PrivateKey, args.Token = secret(args.PrivateKey), secret(args.Token)
	return register[GitLabReady](ctx, GitLabReadyType, name, args, opts)
}

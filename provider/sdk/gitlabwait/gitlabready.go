package gitlabwait

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

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
	Access
	// Path is the readiness path; "/-/readiness?all=1" when unset.
	Path pulumi.StringPtrInput `pulumi:"path"`
	// InstanceId is the GitLab instance's id: a replaced instance keeps its reserved
	// address, so the id, not the address, says that GitLab must be waited for again.
	InstanceId pulumi.StringPtrInput `pulumi:"instanceId"`
	// Token is a personal access token that must work (GET /api/v4/version)
	// before GitLab counts as ready. Always sent as a secret.
	Token pulumi.StringPtrInput `pulumi:"token"`
}

// NewGitLabReady registers a GitLabReady resource.
func NewGitLabReady(ctx *pulumi.Context, name string, args *GitLabReadyArgs, opts ...pulumi.ResourceOption) (*GitLabReady, error) {
	if args == nil {
		args = &GitLabReadyArgs{}
	}
	args.PrivateKey, args.Token = secret(args.PrivateKey), secret(args.Token)
	return register[GitLabReady](ctx, GitLabReadyType, name, inputs(args), opts)
}

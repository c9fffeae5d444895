package gitlabwait

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// PipelineSucceededType is the resource token served by pulumi-resource-gitlabwait.
const PipelineSucceededType = Package + ":index:PipelineSucceeded"

// PipelineSucceeded waits, during create, until the newest GitLab CI pipeline
// of a project's ref (and commit, when Sha is set) has succeeded, asking
// GitLab's REST API through the Public Gateway's SSH bastion. A pipeline that
// failed, was canceled or skipped, or is blocked on a manual job fails the
// create at once, naming its jobs and their pages.
type PipelineSucceeded struct {
	pulumi.CustomResourceState

	// PipelineId is GitLab's id of the pipeline that succeeded.
	PipelineId pulumi.IntOutput `pulumi:"pipelineId"`
	// WebUrl is the pipeline's page in GitLab.
	WebUrl pulumi.StringOutput `pulumi:"webUrl"`
	// Status is the pipeline's status: success.
	Status pulumi.StringOutput `pulumi:"status"`
	// CommitSha is the commit the pipeline ran for (the Sha input, when set).
	CommitSha pulumi.StringOutput `pulumi:"commitSha"`
	// FinishedAt is when the pipeline finished, as GitLab gave it.
	FinishedAt pulumi.StringOutput `pulumi:"finishedAt"`
	// BastionHostKeyFingerprint is the SHA256 fingerprint of the bastion host key that was trusted.
	BastionHostKeyFingerprint pulumi.StringOutput `pulumi:"bastionHostKeyFingerprint"`
}

// PipelineSucceededArgs are the inputs of PipelineSucceeded. Its Timeout
// defaults to 20m: a first pipeline pulls its job images.
type PipelineSucceededArgs struct {
	Access
	// Token is a personal access token that may read the project's pipelines
	// (scope read_api or api). Always sent as a secret.
	Token pulumi.StringInput `pulumi:"token"`
	// ProjectPath is the project's full path, e.g. root/kubernetes-agent.
	ProjectPath pulumi.StringInput `pulumi:"projectPath"`
	// Ref is the branch whose newest pipeline is waited for.
	Ref pulumi.StringInput `pulumi:"ref"`
	// Sha is the full SHA of the commit whose pipeline is waited for: a new
	// commit (of the CI file) means waiting again. Unset, the ref's newest pipeline.
	Sha pulumi.StringPtrInput `pulumi:"sha"`
}

// NewPipelineSucceeded registers a PipelineSucceeded resource.
func NewPipelineSucceeded(ctx *pulumi.Context, name string, args *PipelineSucceededArgs, opts ...pulumi.ResourceOption) (*PipelineSucceeded, error) {
	if args == nil {
		args = &PipelineSucceededArgs{}
	}
	args.PrivateKey, args.Token = secret(args.PrivateKey), secret(args.Token)
	return register[PipelineSucceeded](ctx, PipelineSucceededType, name, inputs(args), opts)
}

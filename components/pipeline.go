package components

import (
	"fmt"
	"slices"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/pulumi/pulumi-gitlab/sdk/v6/go/gitlab"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// CIPipelineArgs configures a CIPipeline.
type CIPipelineArgs struct {
	// GitLabProvider talks to GitLab (the Agent's, through its tunnel).
	GitLabProvider *gitlab.Provider
	// Project is the agents' configuration project, which every agent's
	// ci_access lists: its CI jobs may use every agent's context.
	Project *gitlab.Project
	// Jobs are one deploy job per cluster, with its agent's context.
	Jobs []CIJobArgs
	// CommitAfter are the commits the CI file's commit follows (GitLab
	// refuses concurrent commits to a branch).
	CommitAfter []pulumi.Resource
	// RunAfter are what the pipeline needs running before it starts: every
	// agent connected (the jobs deploy through them) and every runner
	// installed. The CI file is committed after them, so the pipeline it
	// starts finds both.
	RunAfter []pulumi.Resource

	// TLS says GitLab serves HTTPS with the private CA; CACert is that CA.
	TLS    bool
	CACert pulumi.StringInput
	// BastionHost, BastionPort and AutomationPrivateKey reach the bastion,
	// PrivateIP GitLab behind it, for the wait; Token reads the pipeline
	// (the automation token).
	BastionHost          pulumi.StringInput
	BastionPort          int
	AutomationPrivateKey pulumi.StringInput
	PrivateIP            pulumi.StringInput
	Token                pulumi.StringInput
	// Timeout bounds the wait; zero leaves the readiness provider's default.
	Timeout time.Duration
}

// CIJobArgs is one cluster's deploy job.
type CIJobArgs struct {
	Cluster     string
	KubeContext pulumi.StringInput
	Namespace   string
}

// CIPipeline is GitLab's CI/CD half made real: a pipeline in the agents'
// configuration project whose jobs, run by the clusters' runners, deploy
// the ci-demo Deployment through each cluster's agent; created once the
// pipeline of the CI file's commit has succeeded.
type CIPipeline struct {
	pulumi.ResourceState

	// PipelineURL is the pipeline that ran, known once it succeeded.
	PipelineURL pulumi.StringOutput `pulumi:"pipelineUrl"`
	// PipelineID is its id.
	PipelineID pulumi.IntOutput `pulumi:"pipelineId"`
	// File is the CI file's commit: later commits to the project wait for it.
	File *gitlab.RepositoryFile
}

// NewCIPipeline commits the CI file and waits for its pipeline.
func NewCIPipeline(ctx *pulumi.Context, name string, args *CIPipelineArgs, opts ...pulumi.ResourceOption) (*CIPipeline, error) {
	if args == nil || args.GitLabProvider == nil || args.Project == nil || len(args.Jobs) == 0 || args.Token == nil ||
		args.BastionHost == nil || args.AutomationPrivateKey == nil || args.PrivateIP == nil {
		return nil, fmt.Errorf("ci pipeline %q: GitLabProvider, Project, Jobs, Token, BastionHost, AutomationPrivateKey and PrivateIP are required", name)
	}
	comp := &CIPipeline{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:CIPipeline", name, comp, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(comp)

	contexts := make([]any, len(args.Jobs))
	for i, j := range args.Jobs {
		contexts[i] = j.KubeContext
	}
	content := pulumi.All(contexts...).ApplyT(func(v []any) (string, error) {
		jobs := make([]CIJob, len(args.Jobs))
		for i, j := range args.Jobs {
			jobs[i] = CIJob{Cluster: j.Cluster, KubeContext: v[i].(string), Namespace: j.Namespace}
		}
		return RenderCIFile(jobs, args.TLS)
	}).(pulumi.StringOutput)
	after := append(slices.Clone(args.CommitAfter), args.RunAfter...)
	file, err := gitlab.NewRepositoryFile(ctx, name+"-file", &gitlab.RepositoryFileArgs{
		Project:           args.Project.ID().ToStringOutput(),
		Branch:            args.Project.DefaultBranch,
		FilePath:          pulumi.String(CIFilePath),
		Content:           content,
		Encoding:          pulumi.String("text"),
		CommitMessage:     pulumi.String("CI demo: deploy through the agents (gitlab-kapsule)"),
		AuthorName:        pulumi.String("gitlab-kapsule"),
		AuthorEmail:       pulumi.String("gitlab-kapsule@localhost"),
		OverwriteOnCreate: pulumi.Bool(true),
	}, parent, pulumi.Provider(args.GitLabProvider), pulumi.DependsOn(after))
	if err != nil {
		return nil, fmt.Errorf("ci pipeline %q: CI file: %w", name, err)
	}

	caCert := args.CACert
	if caCert == nil {
		caCert = pulumi.String("")
	}
	wait, err := gitlabwait.NewPipelineSucceeded(ctx, name+"-succeeded", &gitlabwait.PipelineSucceededArgs{
		Access: gitLabThroughBastion{
			BastionHost: args.BastionHost, BastionPort: args.BastionPort, PrivateKey: args.AutomationPrivateKey,
			GitLabIP: args.PrivateIP, TLS: args.TLS, CACert: caCert, Timeout: args.Timeout,
		}.access(),
		Token:       args.Token,
		ProjectPath: args.Project.PathWithNamespace,
		Ref:         args.Project.DefaultBranch,
		// The commit that last wrote the file: commitId is the branch's head
		// when the provider last read it, which a later refresh moves
		// (GitLab lib/api/files.rb: commit_id is the ref's commit,
		// last_commit_id the file's).
		Sha: file.LastCommitId,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("ci pipeline %q: wait: %w", name, err)
	}

	comp.File = file
	comp.PipelineURL = wait.WebUrl
	comp.PipelineID = wait.PipelineId
	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{
		"pipelineUrl": comp.PipelineURL,
		"pipelineId":  comp.PipelineID,
	}); err != nil {
		return nil, err
	}
	return comp, nil
}

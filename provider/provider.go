package provider

import (
	"context"
	"os"
	"strconv"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Name is the provider's package name: the plugin is pulumi-resource-gitlabwait.
const Name = gitlabwait.Package

// Version is the provider's version, reported to the engine; the program's
// resources ask for the same one (internal/plugins).
const Version = gitlabwait.PluginVersion

// RecheckEnv names the environment variable that makes Read (pulumi refresh)
// probe GitLab again; unset, Read returns the recorded state without dialing.
const RecheckEnv = "GITLABWAIT_RECHECK"

// Options are the provider's seams. The zero value is what the plugin uses:
// real TCP and SSH, the wall clock, jittered backoff and RecheckEnv.
type Options struct {
	// Waiter dials the bastion and polls GitLab; nil means &Waiter{}.
	Waiter *Waiter
	// Recheck reports whether Read should probe GitLab; nil reads RecheckEnv.
	Recheck func(ctx context.Context) bool
}

// Provider returns the gitlabwait provider as the plugin serves it.
func Provider() (p.Provider, error) {
	return New(Options{})
}

// New returns the gitlabwait provider with the given seams, for tests.
func New(opts Options) (p.Provider, error) {
	if opts.Waiter == nil {
		opts.Waiter = &Waiter{}
	}
	if opts.Recheck == nil {
		opts.Recheck = recheckFromEnv
	}
	// The waits share the lifecycle; every resource shares the seams.
	gitlab, agent, pipeline := &GitLabReady{}, &AgentConnected{}, &PipelineSucceeded{}
	gitlab.opts, agent.opts, pipeline.opts = opts, opts, opts
	configured := &GitLabConfigured{opts: opts}
	return infer.NewProviderBuilder().
		WithNamespace("gitlab-kapsule").
		WithDisplayName("GitLab readiness").
		WithDescription("Configures a private GitLab host over SSH through a Scaleway Public Gateway SSH bastion, and waits through it until GitLab is ready, its Kubernetes agent connected and a CI pipeline succeeded.").
		WithResources(infer.Resource(gitlab), infer.Resource(agent), infer.Resource(pipeline), infer.Resource(configured)).
		Build()
}

func recheckFromEnv(context.Context) bool {
	v, err := strconv.ParseBool(os.Getenv(RecheckEnv))
	return err == nil && v
}

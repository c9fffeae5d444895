package deploy

import (
	"context"
	"io"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ProjectName is the Pulumi project of stack.Deploy, as Pulumi.yaml names it.
const ProjectName = "gitlab-kapsule"

// PulumiVersion is the Pulumi CLI version the project is built and tested
// with; a missing CLI is installed at this version.
const PulumiVersion = "3.274.1"

// Options says which stack to operate on and how. The zero value, with a
// StackName, is the project's program on a local file backend in
// ~/.gitlab-kapsule/state.
type Options struct {
	// StackName is the stack ("dev", "prod"); its resource names derive
	// from it, so stacks can share a Scaleway project. Required.
	StackName string

	// Backend is a Pulumi backend URL: file:///abs/path (or file://~/path),
	// s3://, gs://, azblob://, postgres://, or https:// for a Pulumi Cloud
	// service. Empty means file://~/.gitlab-kapsule/state, created on first
	// use. A file backend encrypts secrets with PULUMI_CONFIG_PASSPHRASE.
	Backend string

	// ProjectDir is a folder holding Pulumi.yaml and the stack's
	// Pulumi.<stack>.yaml, read and written there as `pulumi` does in that
	// folder. Empty means project settings made in code, kept with the
	// stack's configuration in WorkDir.
	ProjectDir string

	// WorkDir is where the stack's configuration file (Pulumi.<stack>.yaml,
	// which also holds a file backend's encryption salt) persists between
	// runs when ProjectDir is empty. Empty means a folder per backend and
	// project under the user's configuration folder
	// (~/.config/gitlab-kapsule/workspaces/...).
	WorkDir string

	// Project names the project when ProjectDir is empty; empty means
	// ProjectName. With a ProjectDir, its Pulumi.yaml names it.
	Project string

	// Program is the inline program; nil means stack.Deploy, the program
	// `pulumi up` runs in this repository. Tests and tools may give their own.
	Program pulumi.RunFunc

	// Config is set on the stack when it is opened. Give values with Plain
	// or Secret: secrets are encrypted by the stack's secrets provider and
	// never written or shown in plain text.
	Config Config

	// Progress receives the engine's progress and diffs, as `pulumi up`
	// prints them, for a person. Nil discards them.
	Progress io.Writer

	// ErrorProgress receives the engine's error output. Nil discards it.
	ErrorProgress io.Writer

	// Events receives the engine's events for a machine, one call per
	// event, in order, before the operation returns (JSONEvents writes them
	// as JSON lines). Nil means no events.
	Events func(events.EngineEvent)

	// PluginDir is the folder holding pulumi-resource-gitlabwait, the
	// project's readiness provider; ExecutablePluginDir makes one from a
	// binary that serves it, such as the running tool's own. Project
	// settings made in code (no ProjectDir) name it as the provider's
	// folder. With a ProjectDir whose Pulumi.yaml names no folder for
	// gitlabwait, it goes first on the CLI's PATH, where the engine looks
	// next (PULUMI_IGNORE_AMBIENT_PLUGINS must then be unset); when
	// Pulumi.yaml names one, PluginDir must be empty or that folder. Empty
	// means no local provider: the engine looks on PATH, then in its plugin
	// cache.
	PluginDir string

	// SecretsProvider is used when the stack is created: "passphrase",
	// "awskms://...", etc. Empty means the backend's default (a passphrase
	// for file backends, the service for Pulumi Cloud).
	SecretsProvider string

	// Env is added to the Pulumi CLI's environment (PULUMI_HOME,
	// PULUMI_CONFIG_PASSPHRASE, ...). Credentials are better left in the
	// process environment, which the CLI inherits.
	Env map[string]string

	// Command is the Pulumi CLI to run. Nil means FindPulumi's answer:
	// `pulumi` on PATH, or v PulumiVersion in ~/.pulumi/versions, or, with
	// InstallPulumi, one downloaded there.
	Command auto.PulumiCommand

	// InstallPulumi lets a missing CLI be downloaded with
	// auto.InstallPulumiCommand (needs the internet).
	InstallPulumi bool

	// AllowReplace lets Up replace or delete the guarded resources (the
	// GitLab server, its data volume, the private network, GitLab's
	// reserved address, a Kapsule cluster, the backup bucket), which it
	// otherwise refuses after a preview: the command's --allow-replace.
	AllowReplace bool

	// BeforeReplace, when set, is what must happen before an allowed
	// replacement: with AllowReplace, Up still previews first (the program
	// runs twice) and, when the preview replaces or deletes guarded
	// resources, calls it with them (as a ReplaceError names them) after the
	// preview and before the update. An error stops the up before anything
	// changes (a *BeforeReplaceError). The command sets it to back the
	// GitLab host up while it still exists. Without AllowReplace it is
	// never called: Up refuses instead.
	BeforeReplace func(ctx context.Context, rs []Replacement) error

	// Prober probes the GitLab host and the clusters before Refresh and
	// Destroy; the zero value probes for real. Tests give their own.
	Prober Prober
}

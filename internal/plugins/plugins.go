package plugins

import (
	"maps"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// versions are the plugin versions of every package the program uses: each
// is the version of its Go SDK in go.mod, because a bridged SDK is
// generated for the provider release of the same version (pulumi-kubernetes,
// -random, -tls and pulumiverse/pulumi-scaleway say so in their
// pulumi-plugin.json). A test holds this table to go.mod. The SDKs carry no
// version themselves: each one's internal SdkVersion is empty, and
// pulumi-gitlab/sdk/v6 v6.11.0 has none in pulumi-plugin.json either, so
// without a pin the engine takes whatever `gitlab` plugin it finds or
// downloads the newest, a later major than the SDK's schema.
var versions = map[string]Plugin{
	"scaleway":   {Module: "github.com/pulumiverse/pulumi-scaleway/sdk", Version: "1.54.0"},
	"kubernetes": {Module: "github.com/pulumi/pulumi-kubernetes/sdk/v4", Version: "4.32.0"},
	"gitlab":     {Module: "github.com/pulumi/pulumi-gitlab/sdk/v6", Version: "6.11.0"},
	"random":     {Module: "github.com/pulumi/pulumi-random/sdk/v4", Version: "4.18.0"},
	"tls":        {Module: "github.com/pulumi/pulumi-tls/sdk/v5", Version: "5.2.0"},
	// The project's own readiness provider, built from this module.
	gitlabwait.Package: {Module: "github.com/gitlab-kapsule/gitlab-kapsule", Version: gitlabwait.PluginVersion},
}

// Plugin is one package's plugin: the Go module of its SDK and the plugin
// version the program asks the engine for.
type Plugin struct{ Module, Version string }

// All returns every package's plugin by package name, e.g. "scaleway".
func All() map[string]Plugin {
	return maps.Clone(versions)
}

// Package returns the Pulumi package of a resource type token:
// "scaleway:instance/server:Server" → "scaleway",
// "pulumi:providers:gitlab" → "gitlab".
func Package(typeToken string) string {
	if p, ok := strings.CutPrefix(typeToken, "pulumi:providers:"); ok {
		return p
	}
	pkg, _, _ := strings.Cut(typeToken, ":")
	return pkg
}

// Pin makes every resource the program registers from now on, in every
// component, carry its package's plugin version, explicit providers
// included. It is a stack transformation (run by the SDK, not the engine),
// so the mock engine of the unit tests sees exactly what the real one gets.
func Pin(ctx *pulumi.Context) error {
	return ctx.RegisterStackTransformation(func(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
		p, ok := versions[Package(args.Type)]
		if !ok {
			return nil // a component of this program: no plugin
		}
		return &pulumi.ResourceTransformationResult{
			Props: args.Props,
			Opts:  append(args.Opts, pulumi.Version(p.Version)),
		}
	})
}

package gitlabwait

// Package is the readiness provider's Pulumi package name: its plugin is
// pulumi-resource-gitlabwait and its tokens start with "gitlabwait:".
const Package = "gitlabwait"

// PluginVersion is the readiness provider's version: the plugin reports it
// to the engine and every resource registered through this package asks for it.
const PluginVersion = "0.1.0"

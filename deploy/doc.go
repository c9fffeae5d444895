// Package deploy embeds the gitlab-kapsule program in Go tools through the
// Pulumi Automation API: it creates or selects a stack on any Pulumi backend
// (a local file backend by default), sets typed configuration with secrets
// kept secret, and runs preview, up, refresh, destroy and outputs with the
// same program function as main.go (stack.Deploy), streaming the engine's
// progress to a person or its JSON events to a machine. A tool can serve the
// program's readiness provider from its own binary (IsProviderPlugin,
// ServeProvider, ExecutablePluginDir), as the gitlab-kapsule command does.
package deploy

// Package deploy embeds the gitlab-kapsule program in Go tools through the
// Pulumi Automation API: it creates or selects a stack on any Pulumi backend
// (a local file backend by default), sets typed configuration with secrets
// kept secret, and runs preview, up, refresh, destroy and outputs with the
// same program function as main.go (stack.Deploy), streaming the engine's
// progress to a person or its JSON events to a machine. A tool can serve the
// program's readiness provider from its own binary (IsProviderPlugin,
// ServeProvider, ExecutablePluginDir), as the gitlab-kapsule command does.
//
// Up previews first and refuses to replace or delete what holds data or
// carries everything else (the GitLab server, its data volume, the private
// network, GitLab's address, a Kapsule cluster, the backup bucket) unless
// Options.AllowReplace (guard.go). Up, Refresh and Destroy first clear the
// pending operations an interrupted update left, and Refresh and Destroy
// probe GitLab (through the bastion) and the clusters, skipping what is
// gone (recover.go).
package deploy

// Package components holds the program's typed Pulumi component resources,
// one per file: Network, GitLabHost and Kapsule (then Agent and GitOpsDemo).
// Each takes Pulumi inputs in an Args struct, parents its children, and hands
// its outputs to the next component instead of looking them up in the cloud.
package components

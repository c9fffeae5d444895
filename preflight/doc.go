// Package preflight asks the Scaleway API, before any resource is declared,
// what only Scaleway knows: whether the configured Kapsule version, node and
// instance types and image exist where the stack deploys, which version a
// live cluster of the stack already runs, and which SSH keys the project
// holds. Every problem names its configuration key and the fix.
package preflight

// Package preflight asks the Scaleway API, before any resource is declared,
// what only Scaleway knows: whether each cluster's Kapsule version, each
// pool's node type, the instance type and the image exist where the stack
// deploys them, which version each live cluster of the stack already runs,
// and which SSH keys the project holds. Every problem names its
// configuration key and the fix.
package preflight

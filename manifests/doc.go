// Package manifests embeds the Kubernetes manifests the GitOps demo commits
// to GitLab, so the binary carries them and tests read the same bytes.
package manifests

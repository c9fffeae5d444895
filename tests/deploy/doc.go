// Package deploy tests the Automation API embedding (package deploy) under
// the real Pulumi engine on a temporary file backend, with the project's
// readiness provider against a loopback OpenSSH bastion, and checks the
// pull-request preview pipelines (.github/workflows/preview.yml with
// actionlint, .gitlab-ci.yml parsed and asserted).
package deploy

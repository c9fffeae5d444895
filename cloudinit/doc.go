// Package cloudinit renders what configures the GitLab host and carries no
// secret: the first-boot user-data and Omnibus's gitlab.rb. The metadata
// service serves user-data to anything on the host for its whole life, so
// the secrets, the package install and every later change reach the host over
// SSH instead (package hostscripts, run by the readiness provider's
// GitLabConfigured resource). The template is embedded, so the binary
// carries everything it deploys.
package cloudinit

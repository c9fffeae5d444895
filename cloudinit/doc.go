// Package cloudinit renders the GitLab host's first-boot user-data: an
// Omnibus gitlab.rb, a root-only file with the bootstrap secrets, and the
// script that installs the pinned package and creates the automation token.
// The templates are embedded, so the binary carries everything it deploys.
package cloudinit

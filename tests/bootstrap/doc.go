// Package bootstrap runs the GitLab host's rendered user-data for real: the
// files cloud-init would write, with their modes and owners, and the runcmd
// that starts cloudinit/bootstrap.sh, as root inside a throwaway bubblewrap
// sandbox with no network. Stand-ins for apt-get, curl, gpg and the Omnibus
// package (gitlab-ctl, and gitlab-rails as Omnibus builds it, dropping to the
// git user with runit's chpst) follow the omnibus-gitlab sources they name,
// so a file the git user cannot read fails as it does on a real host.
package bootstrap

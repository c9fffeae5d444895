// Package tunnel forwards a fixed loopback port, inside the program's own
// process, through the Scaleway Public Gateway's SSH bastion to GitLab's
// private address, so that the GitLab provider reaches GitLab's API without
// GitLab ever being exposed to the internet.
package tunnel

// Package sshbastion keeps one lazily dialed SSH connection to a bastion,
// reconnecting when it drops, checks the bastion's host key (pinned or
// trusted on first use), and opens TCP channels through it. The program's
// tunnel and the gitlabwait provider share it.
package sshbastion

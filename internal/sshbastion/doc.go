// Package sshbastion keeps one lazily dialed SSH connection to a bastion,
// reconnecting when it drops, checks the bastion's host key (pinned or
// trusted on first use), and opens TCP channels through it. The program's
// tunnel and the gitlabwait provider share it, and its errors, which say
// what went wrong and what to do, so both give the same advice.
package sshbastion

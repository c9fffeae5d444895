// Package hostscripts tests the GitLab host's scripts (package hostscripts)
// where they run: in the GitLab host stand-in (tests/harness/gitlabhost.go),
// reached over SSH through the bastion stand-in, with the upload, setsid and
// status-polling protocol the GitLabConfigured resource uses.
package hostscripts

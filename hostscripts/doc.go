// Package hostscripts holds the scripts that converge the GitLab host over
// SSH (gitlab-kapsule-apply, -backup, -restore and the Ruby scripts that
// gitlab-rails runner loads), embedded so the program carries what it runs,
// and renders the payload of settings and secrets that apply reads.
package hostscripts

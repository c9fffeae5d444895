// Package upgradepath knows GitLab's required upgrade stops and refuses a
// change of the Omnibus package version that would skip one, so that a
// preview fails before anything runs on the host. The stops are facts from
// GitLab's own documentation and from the check the Omnibus package runs
// before it installs (see stops.go).
package upgradepath

// Package bastion tests the readiness provider's wait against a real OpenSSH
// sshd on loopback (the bastion) and a loopback HTTP server (GitLab), and
// benchmarks its detection latency, connections and allocations.
package bastion

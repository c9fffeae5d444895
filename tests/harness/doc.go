// Package harness starts the real parts that tests under tests/ run
// against: a Kubernetes control plane without nodes (envtest's
// kube-apiserver and etcd plus kube-controller-manager, with MarkPodsReady
// in place of a kubelet), the Pulumi engine with a throwaway home and file
// backend (also as the plain CLI with its Go language host, in a copy of
// the project), an OpenSSH bastion on loopback, and a GitLab host stand-in (a sandboxed sshd with GitLab's commands stood in, and an S3 server). tools/build provides the
// binaries; where they are missing, tests skip, or fail under GLK_STRICT/CI.
package harness

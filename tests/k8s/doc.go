// Package k8s proves the test cluster of tests/harness on its own (level 3
// of the test ladder): a real kube-apiserver, etcd and
// kube-controller-manager, with Pods marked ready in place of a kubelet,
// and RBAC answered by SubjectAccessReviews.
package k8s

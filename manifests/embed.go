package manifests

import "embed"

// Demo is the nginx demo: a Deployment and a ClusterIP Service in the
// gitops-demo namespace, with the kustomization.yaml that Flux applies. The
// namespace itself is not among them: the program creates it (the Agent, for
// each of agent:namespaces), so a change in Git can never prune it.
//
//go:embed demo/*.yaml
var Demo embed.FS

// DemoDir is the folder of Demo's files, also their path in the GitLab repository.
const DemoDir = "demo"

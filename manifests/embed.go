package manifests

import "embed"

// Demo is the nginx demo: a namespace, a Deployment and a ClusterIP Service,
// with the kustomization.yaml that Flux applies.
//
//go:embed demo/*.yaml
var Demo embed.FS

// DemoDir is the folder of Demo's files, also their path in the GitLab repository.
const DemoDir = "demo"

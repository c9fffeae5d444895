//go:build tools

// Module fluxcrds pins Flux's API modules (imported here) and controller-gen
// (a tool in go.mod), from which tools/build-fluxcrds generates Flux's
// CustomResourceDefinitions into the tool cache for the envtest tests
// (tests/k8s). Nothing here is imported by the project, and nothing
// generated is committed.
package fluxcrds

import (
	_ "github.com/fluxcd/kustomize-controller/api/v1"
	_ "github.com/fluxcd/notification-controller/api/v1"
	_ "github.com/fluxcd/source-controller/api/v1"
)

// Package gitlabwait is the program-side wrapper of the project's readiness
// provider (plugin pulumi-resource-gitlabwait): components register its
// resources through typed constructors, like any other Pulumi resource.
package gitlabwait

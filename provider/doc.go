// Package provider is the gitlabwait Pulumi provider (plugin
// pulumi-resource-gitlabwait): resources that wait, through the Public
// Gateway's SSH bastion, until a private GitLab is ready for the rest of the stack.
package provider

// Package mockcloud stands in for Scaleway, GitLab and Kubernetes under
// Pulumi's mock engine. It records every resource the program registers, so
// unit tests can assert the graph and the offline plan can print it, and it
// answers each resource type with plausible outputs. A type it does not know
// is an error, so a new resource cannot slip past the tests unnoticed.
package mockcloud

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one registration the program made.
type Resource struct {
	Type, Name, ID string
	// Parent is the URN of the parent resource, empty for the stack's children.
	Parent string
	// Dependencies are the URNs this resource waits for (inputs and DependsOn).
	Dependencies []string
	// Inputs are what the program sent, secrets still marked.
	Inputs resource.PropertyMap
	// Provider is the URN of the explicit provider the resource uses, or "";
	// the engine deletes a resource before its provider.
	Provider string
	// Custom is false for component resources.
	Custom bool
	// Version is the plugin version the registration asks for ("" for none).
	Version string
	// SecretOutputs are the outputs the program asks the engine to keep
	// secret whatever the provider's schema says (AdditionalSecretOutputs).
	SecretOutputs []string
	// DeleteBeforeReplace says a replacement deletes the old resource first.
	DeleteBeforeReplace bool
	// RetainOnDelete says destroy leaves the cloud object in place.
	RetainOnDelete bool
	// URN is the resource's URN.
	URN string
}

// Cloud is a pulumi.MockResourceMonitor that records registrations.
type Cloud struct {
	// Project and Stack name the URNs, as the mock engine does.
	Project, Stack string

	mu        sync.Mutex
	resources []Resource
}

var _ pulumi.MockResourceMonitor = (*Cloud)(nil)

// NewResource records the registration and returns the mock outputs of its type.
func (c *Cloud) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	outputs, err := outputsFor(args)
	if err != nil {
		return "", nil, err
	}
	id := args.Name + "-id"
	if !args.Custom {
		id = ""
	}
	r := Resource{Type: args.TypeToken, Name: args.Name, ID: id, Inputs: args.Inputs, Custom: args.Custom}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Version = rpc.GetVersion()
		r.SecretOutputs = rpc.GetAdditionalSecretOutputs()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.Dependencies = rpc.GetDependencies()
		for _, deps := range rpc.GetPropertyDependencies() {
			r.Dependencies = append(r.Dependencies, deps.GetUrns()...)
		}
		slices.Sort(r.Dependencies)
		r.Dependencies = slices.Compact(r.Dependencies)
		r.URN = c.urn(rpc.GetType(), rpc.GetName(), r.Parent)
		// A provider reference is "URN::ID", and URNs contain "::" too.
		if ref := rpc.GetProvider(); ref != "" {
			if i := strings.LastIndex(ref, "::"); i > 0 {
				r.Provider = ref[:i]
			}
		}
	}
	c.mu.Lock()
	c.resources = append(c.resources, r)
	c.mu.Unlock()
	return id, outputs, nil
}

// Call answers provider functions; the program calls none, so any call is an error.
func (c *Cloud) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("mockcloud: the program called %s, which has no mock: add one to mockcloud", args.Token)
}

// Resources returns every registration so far, in order.
func (c *Cloud) Resources() []Resource {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.resources)
}

// OfType returns the registrations of one type token.
func (c *Cloud) OfType(token string) []Resource {
	var out []Resource
	for _, r := range c.Resources() {
		if r.Type == token {
			out = append(out, r)
		}
	}
	return out
}

// ByURN returns the registration with that URN, or false.
func (c *Cloud) ByURN(urn string) (Resource, bool) {
	for _, r := range c.Resources() {
		if r.URN == urn {
			return r, true
		}
	}
	return Resource{}, false
}

// Named returns the registration with that logical name, or false.
func (c *Cloud) Named(name string) (Resource, bool) {
	for _, r := range c.Resources() {
		if r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// urn builds the URN the mock engine gives a resource, so that parents and
// dependencies can be matched to registrations.
func (c *Cloud) urn(typ, name, parent string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(c.Stack), tokens.PackageName(c.Project), parentType, tokens.Type(typ), name))
}

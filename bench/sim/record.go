package sim

import (
	"slices"
	"strings"
	"sync"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one registration as the simulator sees it.
type Resource struct {
	// URN, Type and Name identify the resource; Parent is its parent's URN.
	URN, Type, Name, Parent string
	// Custom is false for component resources, which do no work themselves.
	Custom bool
	// Dependencies are the URNs of the register request: explicit DependsOn
	// and property dependencies, as the SDK sent them.
	Dependencies []string
	// Providers are the URNs of the explicit providers the registration
	// names: the SDK awaits each provider's ID before it registers.
	Providers []string
}

// FromMockCloud converts mockcloud's records. providers maps a URN to the
// provider URNs that registration named (Record collects them).
func FromMockCloud(rs []mockcloud.Resource, providers map[string][]string) []Resource {
	out := make([]Resource, len(rs))
	for i, r := range rs {
		out[i] = Resource{
			URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Custom: r.Custom,
			Dependencies: slices.Clone(r.Dependencies),
			Providers:    slices.Clone(providers[r.URN]),
		}
	}
	return out
}

// Record runs program under mockcloud, as mockcloud.Run does, and returns
// every registration with the provider references mockcloud does not keep.
func Record(stack string, config map[string]string, secretKeys []string, program pulumi.RunFunc) ([]Resource, error) {
	rec := &recorder{Cloud: &mockcloud.Cloud{Project: mockcloud.Project, Stack: stack}, providers: map[regKey][]string{}}
	err := pulumi.RunErr(program,
		pulumi.WithMocks(mockcloud.Project, stack, rec),
		func(info *pulumi.RunInfo) {
			info.Config = config
			info.ConfigSecretKeys = secretKeys
		})
	if err != nil {
		return nil, err
	}
	rs := rec.Resources()
	byURN := map[string][]string{}
	for _, r := range rs {
		byURN[r.URN] = rec.providers[regKey{r.Type, r.Name, r.Parent}]
	}
	return FromMockCloud(rs, byURN), nil
}

// regKey identifies a registration before its URN is known: a URN is a
// function of type, name and parent.
type regKey struct{ typ, name, parent string }

// recorder wraps mockcloud.Cloud to keep each registration's providers.
type recorder struct {
	*mockcloud.Cloud

	mu        sync.Mutex
	providers map[regKey][]string
}

// NewResource records the provider references, then lets mockcloud answer.
func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if rpc := args.RegisterRPC; rpc != nil {
		var urns []string
		refs := []string{rpc.GetProvider()}
		for _, ref := range rpc.GetProviders() {
			refs = append(refs, ref)
		}
		for _, ref := range refs {
			if urn := providerURN(ref); urn != "" {
				urns = append(urns, urn)
			}
		}
		slices.Sort(urns)
		r.mu.Lock()
		r.providers[regKey{rpc.GetType(), rpc.GetName(), rpc.GetParent()}] = slices.Compact(urns)
		r.mu.Unlock()
	}
	return r.Cloud.NewResource(args)
}

// providerURN returns the URN of a provider reference "URN::ID" (a URN
// itself contains "::", an ID does not).
func providerURN(ref string) string {
	i := strings.LastIndex(ref, "::")
	if i < 0 {
		return ""
	}
	return ref[:i]
}

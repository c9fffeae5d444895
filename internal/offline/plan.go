package offline

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Plan runs program for stack under the mock engine with the configuration
// read from dir and prints the resources it would create to w.
func Plan(w io.Writer, dir, stack string, program pulumi.RunFunc) error {
	sc, err := ReadStackConfig(dir, stack)
	if err != nil {
		return err
	}
	// The mock engine takes the configuration in RunInfo, not PULUMI_CONFIG,
	// so the program learns the stack's keys from the context: unknown keys
	// stop the offline plan as they stop `up`.
	keys := sc.Keys()
	cloud, warnings, err := mockcloud.RunLogged(stack, sc.Values, nil, func(ctx *pulumi.Context) error {
		return program(config.WithConfiguredKeys(ctx, keys))
	})
	if err != nil {
		return err
	}
	resources := cloud.Resources()
	fmt.Fprintf(w, "OFFLINE PLAN for stack %q: the real program under Pulumi's mock engine; nothing was created, and values\n", stack)
	fmt.Fprintf(w, "that Scaleway assigns (ids, addresses) are placeholders. %d resources would be created:\n\n", len(resources))
	printTree(w, resources, "", 0)
	if len(sc.Encrypted) > 0 {
		fmt.Fprintf(w, "\nEncrypted keys not read offline (their defaults were used): %s\n", strings.Join(sc.Encrypted, ", "))
	}
	printWarnings(w, warnings)
	return nil
}

// printWarnings prints the program's warnings, each once, in order.
func printWarnings(w io.Writer, warnings []string) {
	if len(warnings) == 0 {
		return
	}
	fmt.Fprintf(w, "\nWarnings (up prints these too):\n")
	seen := map[string]bool{}
	for _, m := range warnings {
		if !seen[m] {
			seen[m] = true
			fmt.Fprintf(w, "  warning: %s\n", m)
		}
	}
}

// printTree prints the children of parent, leaves first, each group sorted
// by type then name, indented by depth. The stack itself is not recorded by
// the mock engine, so resources whose parent is unknown are the top level.
func printTree(w io.Writer, all []mockcloud.Resource, parent string, depth int) {
	known := map[string]bool{}
	for _, r := range all {
		known[r.URN] = true
	}
	var children []mockcloud.Resource
	for _, r := range all {
		if r.Parent == parent || (parent == "" && !known[r.Parent]) {
			children = append(children, r)
		}
	}
	slices.SortFunc(children, func(a, b mockcloud.Resource) int {
		if a.Custom != b.Custom {
			if a.Custom {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Type+a.Name, b.Type+b.Name)
	})
	for _, r := range children {
		fmt.Fprintf(w, "%s+ %-56s %s\n", strings.Repeat("    ", depth), r.Type, r.Name)
		printTree(w, all, r.URN, depth+1)
	}
}

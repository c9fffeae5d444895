// Command bridged is a stand-in for the Terraform-bridged provider plugins
// the program uses (pulumi-resource-scaleway, -random, -tls and -gitlab), for
// the engine test of plain `pulumi preview`. One binary serves any of them:
// it takes the package's name from the name it was started under,
// pulumi-resource-NAME (the engine runs a plugin by that file name, and
// `pulumi plugin install --file` installs it so), and announces the version
// the program pins for NAME (internal/plugins).
//
// It serves every resource type of its package, for a preview only, as a
// bridged provider does without a cloud:
//   - Check and CheckConfig return the inputs: the bridge validates them
//     against the Terraform schema and returns them (adding defaults); a
//     stand-in has no schema.
//   - Diff and DiffConfig report a change when the inputs differ from the old
//     ones, with the changed keys.
//   - Create with preview set returns the inputs as the outputs and the id
//     unknown, and no ID. The CreateRequest.preview field of
//     proto/pulumi/provider.proto (github.com/pulumi/pulumi) says the provider
//     must then not create anything; pulumi-terraform-bridge's Create
//     (pkg/tfbridge/provider.go) then returns Terraform's proposed state, the
//     inputs with every computed attribute unknown, marshalled with
//     KeepUnknowns. The Go SDK takes an output absent from a preview's result
//     as unknown (resolve in sdk/go/pulumi/context.go), so the other computed
//     attributes (a cluster's kubeconfig, a gateway's address) are unknown to
//     the program too, as they would be.
//
// Anything that would change the world (Create or Update outside a preview)
// is refused: this stand-in creates nothing anywhere.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// pluginPrefix is how the engine names a resource plugin's executable.
const pluginPrefix = "pulumi-resource-"

func main() {
	name, version, err := packageOf(os.Args[0])
	if err == nil {
		err = p.RunProvider(context.Background(), name, version, provider(name))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// packageOf returns the package a binary started as argv0 stands in for,
// and the plugin version the program pins for it.
func packageOf(argv0 string) (name, version string, err error) {
	name, ok := strings.CutPrefix(filepath.Base(argv0), pluginPrefix)
	if !ok {
		return "", "", fmt.Errorf("the bridged stand-in must be started as %sNAME, not %s", pluginPrefix, filepath.Base(argv0))
	}
	pin, ok := plugins.All()[name]
	if !ok {
		return "", "", fmt.Errorf("the bridged stand-in knows no plugin version for package %q (internal/plugins)", name)
	}
	return name, pin.Version, nil
}

// provider is the stand-in for package name.
func provider(name string) p.Provider {
	return p.Provider{
		CheckConfig: check,
		DiffConfig:  diff,
		Check:       check,
		Diff:        diff,
		Create: func(_ context.Context, req p.CreateRequest) (p.CreateResponse, error) {
			if !req.DryRun {
				return p.CreateResponse{}, fmt.Errorf("the %s stand-in serves previews only: it does not create %s", name, req.Urn)
			}
			return p.CreateResponse{Properties: req.Properties.Set("id", property.New(property.Computed))}, nil
		},
		Update: func(_ context.Context, req p.UpdateRequest) (p.UpdateResponse, error) {
			if !req.DryRun {
				return p.UpdateResponse{}, fmt.Errorf("the %s stand-in serves previews only: it does not update %s", name, req.Urn)
			}
			return p.UpdateResponse{Properties: req.Inputs}, nil
		},
		Read: func(_ context.Context, req p.ReadRequest) (p.ReadResponse, error) {
			return p.ReadResponse{ID: req.ID, Properties: req.Properties, Inputs: req.Inputs}, nil
		},
		Delete: func(context.Context, p.DeleteRequest) error { return nil },
	}
}

// check returns the inputs as they came.
func check(_ context.Context, req p.CheckRequest) (p.CheckResponse, error) {
	return p.CheckResponse{Inputs: req.Inputs}, nil
}

// diff reports every input key whose value differs from the old inputs.
func diff(_ context.Context, req p.DiffRequest) (p.DiffResponse, error) {
	olds, news := req.OldInputs.AsMap(), req.Inputs.AsMap()
	changed := map[string]p.PropertyDiff{}
	for k, old := range olds {
		if cur, ok := news[k]; !ok {
			changed[k] = p.PropertyDiff{Kind: p.Delete, InputDiff: true}
		} else if !old.Equals(cur) {
			changed[k] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
		}
	}
	for k := range news {
		if _, ok := olds[k]; !ok {
			changed[k] = p.PropertyDiff{Kind: p.Add, InputDiff: true}
		}
	}
	return p.DiffResponse{HasChanges: len(changed) > 0, DetailedDiff: changed}, nil
}

// Command scaleway is a stand-in for pulumi-resource-scaleway, for the engine
// test of the GitLab server's secrets. It serves only
// scaleway:instance/server:Server and mimics the one behaviour that test is
// about, as terraform-provider-scaleway v2.80 internal/services/instance/
// server.go documents it (pulumiverse/pulumi-scaleway bridges that schema):
// the server's Read fills user_data from the API, which holds the cloud-init
// text under the "cloud-init" key, and neither user_data nor cloud_init is
// marked sensitive in the schema. A bridged provider keeps an input's secret
// flag on the output of the same name, so cloudInit stays as secret as the
// program sent it, while userData — a new property — comes back plain. It
// creates nothing anywhere: ids are made up.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

const serverType = "scaleway:instance/server:Server"

func main() {
	prov := p.Provider{
		Check: func(_ context.Context, req p.CheckRequest) (p.CheckResponse, error) {
			return p.CheckResponse{Inputs: req.Inputs}, nil
		},
		Diff: func(_ context.Context, req p.DiffRequest) (p.DiffResponse, error) {
			return p.DiffResponse{}, nil
		},
		Create: func(_ context.Context, req p.CreateRequest) (p.CreateResponse, error) {
			if req.Urn.Type().String() != serverType {
				return p.CreateResponse{}, fmt.Errorf("the scaleway stand-in serves only %s, not %s", serverType, req.Urn.Type())
			}
			out := req.Properties
			if ci, ok := req.Properties.GetOk("cloudInit"); ok && !req.DryRun {
				// The API's copy, read back as user_data["cloud-init"]: plain.
				text := ci.WithSecret(false)
				out = out.Set("userData", property.New(property.NewMap(map[string]property.Value{"cloud-init": text})))
			}
			return p.CreateResponse{ID: "fr-par-1/11111111-2222-3333-4444-555555555555", Properties: out}, nil
		},
		Read: func(_ context.Context, req p.ReadRequest) (p.ReadResponse, error) {
			return p.ReadResponse{ID: req.ID, Properties: req.Properties, Inputs: req.Inputs}, nil
		},
		Delete: func(context.Context, p.DeleteRequest) error { return nil },
	}
	if err := p.RunProvider(context.Background(), "scaleway", plugins.All()["scaleway"].Version, prov); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

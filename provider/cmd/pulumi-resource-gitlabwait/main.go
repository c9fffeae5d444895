// Command pulumi-resource-gitlabwait is the gitlabwait provider plugin the
// Pulumi engine starts; see package provider.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
)

func main() {
	prov, err := provider.Provider()
	if err == nil {
		err = prov.Run(context.Background(), provider.Name, provider.Version)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", provider.Name, err)
		os.Exit(1)
	}
}

package deploy_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
)

// Two environments side by side: the same program deployed as stacks
// "dev" and "prod" on one state backend, each with its own configuration.
// Resource names derive from the stack name, so both fit in one Scaleway
// project. Scaleway credentials (SCW_ACCESS_KEY, SCW_SECRET_KEY,
// SCW_DEFAULT_PROJECT_ID) and PULUMI_CONFIG_PASSPHRASE come from the
// environment.
func Example_twoEnvironments() {
	ctx := context.Background()
	envs := map[string]deploy.Config{
		"dev": {
			"kapsule:size":     deploy.Plain(1),
			"kapsule:nodeType": deploy.Plain("PRO2-XXS"),
		},
		"prod": {
			"kapsule:size":            deploy.Plain(3),
			"gitlabHost:instanceType": deploy.Plain("POP2-4C-16G"),
			"network:cidr":            deploy.Plain("10.1.0.0/24"),
			"network:allowedIpRanges": deploy.Plain([]string{"51.15.100.0/24"}),
			"gitlabHost:rootPassword": deploy.Secret(os.Getenv("PROD_GITLAB_ROOT_PASSWORD")),
		},
	}
	for name, config := range envs {
		s, err := deploy.Open(ctx, deploy.Options{
			StackName: name,
			Backend:   "file:///var/lib/gitlab-kapsule/state",
			Config:    config,
			PluginDir: "/opt/gitlab-kapsule/bin", // holds pulumi-resource-gitlabwait
			Progress:  os.Stdout,
		})
		if err != nil {
			log.Fatal(err)
		}
		res, err := s.Up(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: GitLab at %v\n", name, res.Outputs["gitlabUrl"].Value)
		_ = s.Close()
	}
}

// Read the cluster's kubeconfig from a deployed stack. It is a secret
// output: write it to a private file, never to a log.
func ExampleStack_Outputs() {
	ctx := context.Background()
	s, err := deploy.OpenExisting(ctx, deploy.Options{StackName: "dev"})
	if err != nil {
		log.Fatal(err) // errors.Is(err, deploy.ErrNoStack) when dev was never deployed
	}
	defer s.Close()
	outs, err := s.Outputs(ctx)
	if err != nil {
		log.Fatal(err)
	}
	kubeconfig, ok := outs["kubeconfig"].Value.(string)
	if !ok {
		log.Fatal("the stack has no kubeconfig output yet: run up")
	}
	if err := os.WriteFile("kubeconfig", []byte(kubeconfig), 0o600); err != nil {
		log.Fatal(err)
	}
	fmt.Println("kubeconfig written; secret:", outs["kubeconfig"].Secret)
}

// Destroy an environment. The program runs first (run-program), so the
// settings it computes at run time are current while deleting; the stack
// and its configuration stay for a later up.
func ExampleStack_Destroy() {
	ctx := context.Background()
	s, err := deploy.OpenExisting(ctx, deploy.Options{StackName: "prod", Events: deploy.JSONEvents(os.Stdout)})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Destroy(ctx); err != nil {
		// errors.Is(err, deploy.ErrLocked): another run holds the stack.
		log.Fatal(err)
	}
}

// A Go tool that embeds the program serves the readiness provider from its
// own binary: the engine starts the binary again, under the provider's
// name, from the folder ExecutablePluginDir makes, so the tool needs no
// separately built pulumi-resource-gitlabwait and no Go toolchain. The
// Automation API's own options go to each operation.
func ExampleExecutablePluginDir() {
	if deploy.IsProviderPlugin(os.Args[0]) {
		if err := deploy.ServeProvider(context.Background()); err != nil {
			log.Fatal(err)
		}
		return
	}
	ctx := context.Background()
	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	dir, remove, err := deploy.ExecutablePluginDir(exe)
	if err != nil {
		log.Fatal(err)
	}
	defer remove()
	s, err := deploy.Open(ctx, deploy.Options{StackName: "dev", PluginDir: dir, Progress: os.Stdout})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Preview(ctx, optpreview.Message("nightly drift check"), optpreview.Parallel(4)); err != nil {
		log.Fatal(err)
	}
}

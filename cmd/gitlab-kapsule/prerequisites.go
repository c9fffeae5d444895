package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/offline"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

// credentialVars are what the Scaleway provider needs to create anything.
var credentialVars = []string{"SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_DEFAULT_PROJECT_ID"}

// missingVars lists the environment variables an operation needs and lacks.
func missingVars(o options) []string {
	var missing []string
	for _, v := range credentialVars {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	// A file backend encrypts the stack's secrets with this passphrase.
	if usesFileBackend(o) && os.Getenv("PULUMI_CONFIG_PASSPHRASE") == "" && os.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE") == "" {
		missing = append(missing, "PULUMI_CONFIG_PASSPHRASE")
	}
	return missing
}

func usesFileBackend(o options) bool {
	return o.backend == "" || strings.HasPrefix(o.backend, "file://")
}

// explainMissing names the missing variables, then shows the offline plan so
// the user still sees what would be created.
func explainMissing(stdout io.Writer, o options, missing []string) error {
	fmt.Fprintf(stdout, "Cannot deploy: these environment variables are not set: %s\n", strings.Join(missing, ", "))
	fmt.Fprintf(stdout, "  SCW_*: a Scaleway API key and project (console: IAM > API keys).\n")
	fmt.Fprintf(stdout, "  PULUMI_CONFIG_PASSPHRASE: encrypts this stack's secrets in the local state.\n\n")
	if err := offline.Plan(stdout, o.dir, o.stack, stack.Deploy); err != nil {
		return fmt.Errorf("offline plan: %w", err)
	}
	return errMissing
}

// requirePulumiCLI says how to get the Pulumi CLI when it is not on PATH.
func requirePulumiCLI() error {
	if _, err := exec.LookPath("pulumi"); err == nil {
		return nil
	}
	return fmt.Errorf("%w: the Pulumi CLI is not on PATH: install v%s (pulumi.com/docs/install), or build it from the Go module with `tools/build pulumi` and add the printed GLK_PULUMI_DIR to PATH", errMissing, pulumiVersion)
}

// pulumiVersion is the CLI version the project is built and tested with.
const pulumiVersion = "3.274.1"

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// credentialVars are what the Scaleway provider needs to create anything.
var credentialVars = []string{"SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_DEFAULT_PROJECT_ID"}

// missingVars lists the environment variables an operation needs and
// lacks: Scaleway's when it changes the cloud, and a file backend's
// passphrase always (it decrypts the stack's secrets).
func missingVars(o *options, cloud bool) []string {
	var missing []string
	if cloud {
		for _, v := range credentialVars {
			if os.Getenv(v) == "" {
				missing = append(missing, v)
			}
		}
	}
	if usesFileBackend(o) && os.Getenv("PULUMI_CONFIG_PASSPHRASE") == "" && os.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE") == "" {
		missing = append(missing, "PULUMI_CONFIG_PASSPHRASE")
	}
	return missing
}

func usesFileBackend(o *options) bool {
	return o.backend == "" || strings.HasPrefix(o.backend, "file://")
}

// explainMissing names the missing variables, then shows the offline plan so
// the user still sees what would be created.
func explainMissing(stdout io.Writer, o *options, missing []string) error {
	fmt.Fprintf(stdout, "Cannot deploy: these environment variables are not set: %s\n", strings.Join(missing, ", "))
	fmt.Fprintf(stdout, "  SCW_*: a Scaleway API key and project (console: IAM > API keys).\n")
	fmt.Fprintf(stdout, "  PULUMI_CONFIG_PASSPHRASE: encrypts this stack's secrets in the local state.\n\n")
	if err := planOffline(stdout, o); err != nil {
		if errors.Is(err, errMissing) {
			return err
		}
		return fmt.Errorf("offline plan: %w", err)
	}
	return errMissing
}

// requirePassphrase fails with errMissing when a file backend has no passphrase.
func requirePassphrase(o *options) error {
	if m := missingVars(o, false); len(m) > 0 {
		return fmt.Errorf("%w: %s is not set: it decrypts the stack's secrets in the file backend", errMissing, strings.Join(m, ", "))
	}
	return nil
}

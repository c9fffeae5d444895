package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// HowToGetPulumi says how to get the Pulumi CLI where it is missing.
const HowToGetPulumi = "install v" + PulumiVersion + " (https://www.pulumi.com/docs/install/, or let this tool download it on a connected machine), " +
	"or build it from the Go module github.com/pulumi/pulumi/pkg/v3 with `tools/build pulumi` in this repository and put the printed GLK_PULUMI_DIR on PATH"

// FindPulumi returns the Pulumi CLI: `pulumi` on PATH, else v PulumiVersion
// in ~/.pulumi/versions (where auto.InstallPulumiCommand puts it), else,
// when install is true, that version downloaded there. Its error wraps
// ErrNoPulumi and says how to get the CLI.
func FindPulumi(ctx context.Context, install bool) (auto.PulumiCommand, error) {
	want := semver.MustParse(PulumiVersion)
	if path, err := exec.LookPath("pulumi"); err == nil {
		cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Version: want})
		if err != nil {
			return nil, fmt.Errorf("%w: %s does not run or is older than v%s (%v): %s", ErrNoPulumi, path, PulumiVersion, err, HowToGetPulumi)
		}
		return cmd, nil
	}
	root := ""
	if home, err := os.UserHomeDir(); err == nil {
		root = filepath.Join(home, ".pulumi", "versions", PulumiVersion)
		if _, err := os.Stat(filepath.Join(root, "bin", "pulumi")); err == nil {
			if cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Version: want, Root: root}); err == nil {
				return cmd, nil
			}
		}
	}
	if !install || root == "" {
		return nil, fmt.Errorf("%w: `pulumi` is not on PATH: %s", ErrNoPulumi, HowToGetPulumi)
	}
	cmd, err := auto.InstallPulumiCommand(ctx, &auto.PulumiCommandOptions{Version: want, Root: root})
	if err != nil {
		first := err.Error()
		if len(first) > 200 {
			first = first[:200] + "..."
		}
		return nil, fmt.Errorf("%w: `pulumi` is not on PATH and downloading v%s into %s failed (%s): %s", ErrNoPulumi, PulumiVersion, root, first, HowToGetPulumi)
	}
	return cmd, nil
}

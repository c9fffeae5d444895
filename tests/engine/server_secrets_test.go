package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/instance"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// userDataSecret stands for the root password, token and TLS key the
// GitLab host's user-data carries.
const userDataSecret = "root-password-that-must-never-be-plain"

// TestServerUserDataNeverReachesPlainState runs the GitLab server's own
// registration (components.NewGitLabServer) under the real engine against a
// stand-in Scaleway plugin that echoes the user-data into userData as the
// real provider's Read does (tests/standin/scaleway), and reads the state the
// engine wrote. A control registers the same server without the program's
// secret outputs: the secret then sits in plain state, so the stand-in
// echoes for real and this test can fail.
func TestServerUserDataNeverReachesPlainState(t *testing.T) {
	for _, tc := range []struct {
		name     string
		register func(ctx *pulumi.Context) error
		// leaks says which outputs hold the secret in plain text.
		leaks map[string]bool
	}{
		{"the program's server", func(ctx *pulumi.Context) error {
			_, err := components.NewGitLabServer(ctx, "gitlab-server", &components.GitLabServerArgs{
				Name: pulumi.String("glk-test-gitlab"), Zone: "fr-par-1", InstanceType: "PRO2-XS", Image: "ubuntu_noble",
				SecurityGroupID: pulumi.String("fr-par-1/sg"), DiskSizeGB: 50,
				UserData: pulumi.String("#cloud-config\n# " + userDataSecret + "\n"), Tags: []string{"test"},
			})
			return err
		}, map[string]bool{"userData": false, "cloudInit": false}},
		{"control: secret cloudInit only", func(ctx *pulumi.Context) error {
			_, err := instance.NewServer(ctx, "gitlab-server", &instance.ServerArgs{
				Zone: pulumi.String("fr-par-1"), Type: pulumi.String("PRO2-XS"), Image: pulumi.String("ubuntu_noble"),
				CloudInit: pulumi.ToSecret(pulumi.String("#cloud-config\n# " + userDataSecret + "\n")).(pulumi.StringOutput),
			}, pulumi.Version(plugins.All()["scaleway"].Version))
			return err
			// The input's secret flag covers cloudInit, not the echo.
		}, map[string]bool{"userData": true, "cloudInit": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := harness.NewEngine(t)
			eng.InstallPlugin(t, "resource", "scaleway", "v"+plugins.All()["scaleway"].Version, harness.ScalewayStandInPlugin(t))
			s := eng.Stack(t, harness.StackOptions{
				Stack: "server-secrets",
				Program: func(ctx *pulumi.Context) error {
					if err := plugins.Pin(ctx); err != nil {
						return err
					}
					return tc.register(ctx)
				},
			})
			harness.Up(t, s)
			state, err := s.Export(t.Context())
			require.NoError(t, err)
			var deployment struct {
				Resources []struct {
					Type    string                     `json:"type"`
					Outputs map[string]json.RawMessage `json:"outputs"`
				} `json:"resources"`
			}
			require.NoError(t, json.Unmarshal(state.Deployment, &deployment))
			var server map[string]json.RawMessage
			for _, r := range deployment.Resources {
				if r.Type == "scaleway:instance/server:Server" {
					server = r.Outputs
				}
			}
			require.NotNil(t, server, "no server in the state")
			require.Contains(t, string(server["userData"]), userDataSecret, "the stand-in echoes the user-data as the provider's Read does")
			// The export shows secrets decrypted under the secret marker;
			// a plain value carries none.
			for key, leaks := range tc.leaks {
				raw := string(server[key])
				plain := strings.Contains(raw, userDataSecret) && !strings.Contains(raw, secretSig)
				assert.Equal(t, leaks, plain, "output %s in state: %s", key, raw)
			}
			harness.Destroy(t, s)
		})
	}
}

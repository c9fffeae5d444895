package stack

import (
	"fmt"
	"os"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/preflight"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// preflightAPIKey carries a preflight.API in a Context (WithPreflightAPI).
type preflightAPIKey struct{}

// WithPreflightAPI returns ctx with the Scaleway API the preflight asks.
// Under Pulumi's mocks (unit tests, the offline plan) the preflight runs only
// when one is given this way: the offline plan never calls Scaleway.
func WithPreflightAPI(ctx *pulumi.Context, api preflight.API) *pulumi.Context {
	return ctx.WithValue(preflightAPIKey{}, api)
}

// noPreflightKey carries WithoutPreflight's reason in a Context.
type noPreflightKey struct{}

// WithoutPreflight returns ctx with the preflight off, for the reason given:
// refresh and destroy create nothing, and must work on a stack whose
// version or types Scaleway no longer offers. The command sets it for them;
// plain `pulumi refresh|destroy --run-program` gets the same with
// GLK_PREFLIGHT=off.
func WithoutPreflight(ctx *pulumi.Context, reason string) *pulumi.Context {
	return ctx.WithValue(noPreflightKey{}, reason)
}

// PreflightWanted reports whether ctx leaves the preflight on.
func PreflightWanted(ctx *pulumi.Context) bool {
	_, off := ctx.Value(noPreflightKey{}).(string)
	return !off
}

// PreflightEnv turned off ("off") skips the preflight (WithoutPreflight).
const PreflightEnv = "GLK_PREFLIGHT"

// PreflightSkipped is the notice when the preflight cannot ask Scaleway.
const PreflightSkipped = "preflight skipped (it needs Scaleway credentials and the live API): the Kapsule version, " +
	"node and instance types, image and the project's SSH keys were not checked against Scaleway"

// runPreflight asks Scaleway, before any resource is registered, what only
// it knows (see package preflight). ok is false when it was skipped.
func runPreflight(ctx *pulumi.Context, cfg *config.Config) (res preflight.Result, ok bool, err error) {
	if reason, off := ctx.Value(noPreflightKey{}).(string); off {
		_ = ctx.Log.Info("preflight skipped: "+reason, nil)
		return res, false, nil
	}
	if os.Getenv(PreflightEnv) == "off" {
		_ = ctx.Log.Info("preflight skipped: "+PreflightEnv+"=off", nil)
		return res, false, nil
	}
	api, given := ctx.Value(preflightAPIKey{}).(preflight.API)
	if !given {
		if ctx.RunningWithMocks() {
			_ = ctx.Log.Warn(PreflightSkipped, nil)
			return res, false, nil
		}
		pc := map[string]string{}
		for _, k := range []string{preflight.KeyAccessKey, preflight.KeySecretKey, preflight.KeyProjectID, preflight.KeyAPIURL} {
			if v, ok := ctx.GetConfig(k); ok {
				pc[k] = v
			}
		}
		creds, missing := preflight.CredentialsFromEnv(os.Getenv, pc)
		if len(missing) > 0 {
			_ = ctx.Log.Warn(PreflightSkipped+": set "+strings.Join(missing, ", "), nil)
			return res, false, nil
		}
		if api, err = preflight.NewAPI(creds); err != nil {
			return res, false, fmt.Errorf("preflight: %w", err)
		}
	}
	in := preflight.Input{
		Region:            cfg.Region,
		Zone:              cfg.Zone,
		InstanceType:      cfg.GitLab.InstanceType,
		Image:             cfg.GitLab.Image,
		OperatorPublicKey: cfg.Network.SSHPublicKey,
		// Only the keys this configuration declares: an operator key the
		// stack made before but no longer declares still counts in the
		// digest, so the up after its deletion re-imports the project's keys.
		ManagedKeyNames: declaredKeyNames(cfg),
	}
	for _, cl := range cfg.ClusterList() {
		in.Clusters = append(in.Clusters, preflight.Cluster{
			Name: components.KapsuleClusterName(cfg.Prefix, cl.Name), Version: cl.Version, VersionKey: cl.Key("version"),
		})
		for i, pool := range cl.Pools {
			in.NodeTypes = append(in.NodeTypes, preflight.NodeType{Key: cl.PoolKey(i, "nodeType"), Name: pool.NodeType, Zone: pool.Zone})
		}
	}
	res, err = preflight.Check(ctx.Context(), api, in)
	for _, w := range res.Warnings {
		_ = ctx.Log.Warn("preflight: "+w, nil)
	}
	if err != nil {
		return res, false, fmt.Errorf("preflight against Scaleway (nothing was created):\n%w", err)
	}
	return res, true, nil
}

func declaredKeyNames(cfg *config.Config) []string {
	names := []string{components.AutomationKeyName(cfg.Prefix)}
	if cfg.Network.SSHPublicKey != "" {
		names = append(names, components.OperatorKeyName(cfg.Prefix))
	}
	return names
}

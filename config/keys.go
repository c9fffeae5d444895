package config

import (
	"encoding/json"
	"fmt"
	"github.com/agext/levenshtein"
	"os"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// scalewayProviderKeys are the Scaleway provider's own configuration keys
// besides scaleway:region and scaleway:zone (which Load reads): the getters
// of the pulumiverse SDK's config package
// (github.com/pulumiverse/pulumi-scaleway/sdk go/scaleway/config/config.go).
var scalewayProviderKeys = []string{"accessKey", "apiUrl", "organizationId", "profile", "projectId", "secretKey"}

// scalewayNamespace is the Scaleway provider's namespace, shared with the
// program's own scaleway:region and scaleway:zone.
const scalewayNamespace = "scaleway"

// configuredKeysKey carries WithConfiguredKeys' list in a Context.
type configuredKeysKey struct{}

// WithConfiguredKeys returns ctx carrying the stack's configuration keys, so
// that Load can refuse the ones the program does not know. Drivers that hand
// the program its configuration through pulumi.RunInfo rather than the
// PULUMI_CONFIG variable use it: the offline plan, mock runs, and Automation
// API inline programs.
func WithConfiguredKeys(ctx *pulumi.Context, keys []string) *pulumi.Context {
	return ctx.WithValue(configuredKeysKey{}, slices.Clone(keys))
}

// configuredKeys lists the keys set in the stack's configuration, sorted.
//
// pulumi.Context only answers lookups (GetConfig and IsConfigSecret in
// sdk/go/pulumi/context.go); the whole map lives in the unexported RunInfo.
// The supported way to see every key is where the engine's Go language host
// puts the configuration for the program: the PULUMI_CONFIG variable
// (pulumi.EnvConfig, a JSON map of "namespace:key" to value, read by
// getEnvInfo in sdk/go/pulumi/run.go, which RunErr and pulumi.WithMocks runs
// also use). Each key is confirmed with GetConfig, so a run whose RunInfo
// replaced that configuration is not judged on stale keys. Drivers that pass
// the configuration in RunInfo say so with WithConfiguredKeys.
func configuredKeys(ctx *pulumi.Context) []string {
	if keys, ok := ctx.Value(configuredKeysKey{}).([]string); ok {
		return slices.Sorted(slices.Values(keys))
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(os.Getenv(pulumi.EnvConfig)), &env); err != nil {
		return nil
	}
	var keys []string
	for k := range env {
		if _, ok := ctx.GetConfig(k); ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// checkKeys refuses every configured key that the program would silently
// ignore: an unknown key in one of its namespaces (known holds every key Load
// reads), a namespace that is one of them but for case or a typo, a
// scaleway: key that neither the program nor the Scaleway provider reads, and
// any key in the project's own namespace, where the program reads nothing.
// Other namespaces belong to providers (gitlab, kubernetes) or to Pulumi.
func checkKeys(known map[string]bool, configured []string, project string) []error {
	byNS := map[string][]string{}
	for k := range known {
		ns, name, _ := strings.Cut(k, ":")
		byNS[ns] = append(byNS[ns], name)
	}
	byNS[scalewayNamespace] = append(byNS[scalewayNamespace], scalewayProviderKeys...)
	for ns := range byNS {
		slices.Sort(byNS[ns])
	}
	namespaces := sortedKeys(byNS)

	var errs []error
	for _, key := range configured {
		ns, name, ok := strings.Cut(key, ":")
		if !ok {
			continue
		}
		if names, own := byNS[ns]; own {
			if !slices.Contains(names, name) {
				errs = append(errs, unknownKey(key, name, qualified(ns, names),
					"use one of "+strings.Join(qualified(ns, names), ", ")))
			}
			continue
		}
		if ns == project {
			errs = append(errs, unknownKey(key, name, allKeys(byNS),
				fmt.Sprintf("the program reads no key of the project's namespace %q", project)))
			continue
		}
		// A namespace that is one of the program's but for case or a typo.
		if right := nearest(ns, namespaces, 2); right != "" {
			errs = append(errs, unknownKey(key, name, qualified(right, byNS[right]),
				"use one of "+strings.Join(qualified(right, byNS[right]), ", ")))
		}
	}
	return errs
}

// unknownKey refuses key, suggesting the candidate (a qualified key) whose
// name is nearest to the key's name, or else giving the fallback fix.
func unknownKey(key, name string, candidates []string, fallback string) error {
	best, bestD := "", max(2, len(name)/3)+1
	for _, c := range candidates {
		_, n, _ := strings.Cut(c, ":")
		if d := distance(strings.ToLower(name), strings.ToLower(n)); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" {
		return fmt.Errorf("%s is not a key this program reads, so its value would be ignored: did you mean %s? Set that key instead and remove %s", key, best, key)
	}
	return fmt.Errorf("%s is not a key this program reads, so its value would be ignored: remove it (%s)", key, fallback)
}

func qualified(ns string, names []string) []string {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = ns + ":" + n
	}
	return keys
}

func allKeys(byNS map[string][]string) []string {
	var keys []string
	for ns, names := range byNS {
		keys = append(keys, qualified(ns, names)...)
	}
	slices.Sort(keys)
	return keys
}

// nearest returns the candidate closest to word, ignoring case, if it is at
// most maxDistance edits away; the first in order on a tie, "" if none is.
func nearest(word string, candidates []string, maxDistance int) string {
	best, bestD := "", maxDistance+1
	for _, c := range candidates {
		if d := distance(strings.ToLower(word), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int { return levenshtein.Distance(a, b, nil) }

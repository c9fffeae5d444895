package stack_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// update rewrites the recorded one-cluster registrations. They were recorded
// from the program before it took a list of clusters (commit 412ed41), and
// must not be rewritten to make a change pass: a difference here is a
// difference an existing stack's preview would show. A deliberate one is
// listed in dayTwo (or its like), so the record stays the old program's.
var update = flag.Bool("update", false, "rewrite stack/testdata/one-cluster")

// registration is what the engine compares between two runs of one
// resource: a resource whose URN, provider and inputs are the same is
// "same" in a preview; another URN is a create and a delete, another
// provider or inputs a diff the provider judges.
type registration struct {
	URN            string          `json:"urn"`
	Provider       string          `json:"provider,omitempty"`
	RetainOnDelete bool            `json:"retainOnDelete,omitempty"`
	Inputs         json.RawMessage `json:"inputs"`
}

// recorded is one configuration's registrations and stack outputs.
type recorded struct {
	Resources []registration `json:"resources"`
	Outputs   []string       `json:"outputs"`
}

// TestOneClusterStacksKeepTheirResources runs the one-cluster
// configurations of before the list of clusters and compares every
// registration and output name with what that program registered: an
// existing one-cluster stack previews with no change. The runner (issue 14)
// came later and adds its own resources and outputs on the next up: with
// runner:enabled false nothing differs at all; with the runner, every
// recorded resource is still exactly the same and only the runner's and the
// pipeline's are new.
func TestOneClusterStacksKeepTheirResources(t *testing.T) {
	t.Parallel()
	for name, config := range map[string]map[string]string{
		"defaults":     nil,
		"every-option": fullConfig(),
		"plain-no-gitops": {
			"gitlabHost:tls": "false", "gitops:enabled": "false", "agent:name": "edge",
			"agent:namespaces": mockcloud.List("apps", "web"), "agent:clusterAdmin": "true",
			"kapsule:version": "1.36.1", "kapsule:nodeType": "PRO2-XS", "kapsule:size": "3", "kapsule:cni": "calico",
		},
	} {
		path := filepath.Join("testdata", "one-cluster", name+".json")
		for _, runner := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/runner=%t", name, runner), func(t *testing.T) {
				t.Parallel()
				cfg := maps.Clone(config)
				if cfg == nil {
					cfg = map[string]string{}
				}
				if !runner {
					cfg["runner:enabled"] = "false"
				}
				got := record(t, mustRun(t, cfg))
				if *update && !runner {
					data, err := json.MarshalIndent(got, "", "  ")
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(path, append(data, '\n'), 0o644))
				}
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				var want recorded
				require.NoError(t, json.Unmarshal(data, &want))
				compareRecorded(t, want, got, runner)
			})
		}
	}
}

// dayTwo is what issue 13 (day 2) changes on an existing stack's next up,
// on purpose, and nothing else: GitLabConfigured replaces GitLabReady (it
// installs over SSH what the user-data carried, then waits as GitLabReady
// did), the data volume and the backups are new, and these inputs change:
// the server's user-data (now free of secrets) and its attached volume, the
// automation token's renewal period, the certificate's lifetime and renewal,
// and the agent's wait, which now waits again for a replaced GitLab host.
var dayTwo = struct {
	gone, added []string
	inputs      map[string][]string
}{
	gone:  []string{"gitlabwait:index:GitLabReady::gitlab-ready"},
	added: []string{"gitlabwait:index:GitLabConfigured::gitlab-configured", "scaleway:block/volume:Volume::gitlab-data", "gitlab-kapsule:index:Backups$"},
	inputs: map[string][]string{
		"scaleway:instance/server:Server::gitlab-server":                 {"cloudInit", "additionalVolumeIds"},
		"random:index/randomPassword:RandomPassword::gitlab-admin-token": {"keepers"},
		"gitlabwait:index:AgentConnected::agent-connected":               {"gitlabInstanceId"},
		"tls:index/locallySignedCert:LocallySignedCert::gitlab-tls-cert": {"validityPeriodHours", "earlyRenewalHours"},
	},
}

// matches reports whether urn ends with one of the suffixes, or holds one
// ending in "$" (every child of that component).
func matches(urn string, suffixes []string) bool {
	for _, s := range suffixes {
		if strings.HasSuffix(urn, "$"+s) || strings.HasSuffix(urn, "::"+s) || (strings.HasSuffix(s, "$") && strings.Contains(urn, "::"+s)) {
			return true
		}
	}
	return false
}

// compareRecorded asserts that got holds every resource and output of
// want unchanged but for dayTwo's changes and, unless added is set, nothing
// else new; with added, the runner's and the pipeline's resources and
// outputs are new too.
func compareRecorded(t *testing.T, want, got recorded, added bool) {
	t.Helper()
	byURN := map[string]registration{}
	for _, r := range got.Resources {
		byURN[r.URN] = r
	}
	for _, w := range want.Resources {
		g, ok := byURN[w.URN]
		if !ok {
			assert.True(t, matches(w.URN, dayTwo.gone), "%s is gone: the stack would delete it", w.URN)
			continue
		}
		assert.Equal(t, w.Provider, g.Provider, "%s: provider", w.URN)
		assert.Equal(t, w.RetainOnDelete, g.RetainOnDelete, "%s: retainOnDelete", w.URN)
		assertInputsSameBut(t, w, g)
		delete(byURN, w.URN)
	}
	for urn := range byURN {
		ours := strings.Contains(urn, "::gitlab-kapsule:index:Runner$") || strings.Contains(urn, "::gitlab-kapsule:index:CIPipeline$")
		assert.True(t, (added && ours) || matches(urn, dayTwo.added), "%s: the stack would create it", urn)
	}
	outputs := slices.Clone(want.Outputs)
	if added {
		outputs = append(outputs, string(stack.RunnerID), string(stack.CINamespace), string(stack.PipelineURL))
	}
	if slices.Contains(got.Outputs, string(stack.BackupBucket)) {
		outputs = append(outputs, string(stack.BackupBucket), string(stack.BackupEndpoint))
	}
	slices.Sort(outputs)
	assert.Equal(t, outputs, got.Outputs, "stack outputs")
}

// assertInputsSameBut compares two registrations' inputs key by key,
// leaving out only the keys dayTwo changes for that resource, and asserts
// that those do change (or a stale entry would hide nothing).
func assertInputsSameBut(t *testing.T, want, got registration) {
	t.Helper()
	var w, g map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(want.Inputs, &w))
	require.NoError(t, json.Unmarshal(got.Inputs, &g))
	var changing []string
	for name, keys := range dayTwo.inputs {
		if matches(want.URN, []string{name}) {
			changing = keys
		}
	}
	for _, k := range changing {
		assert.NotEqual(t, string(w[k]), string(g[k]), "%s: issue 13 changes its %s", want.URN, k)
		delete(w, k)
		delete(g, k)
	}
	wj, _ := json.Marshal(w)
	gj, _ := json.Marshal(g)
	assert.JSONEq(t, string(wj), string(gj), "%s: inputs", want.URN)
}

// record turns a run into its registrations, sorted by URN.
func record(t *testing.T, r result) recorded {
	t.Helper()
	var out recorded
	for _, res := range r.cloud.Resources() {
		if !res.Custom {
			// A component's URN is in its children's; it has no inputs of its own.
			continue
		}
		inputs, err := json.Marshal(plainInputs(resource.NewObjectProperty(res.Inputs)))
		require.NoError(t, err)
		out.Resources = append(out.Resources, registration{URN: res.URN, Provider: res.Provider, RetainOnDelete: res.RetainOnDelete, Inputs: inputs})
	}
	slices.SortFunc(out.Resources, func(a, b registration) int { return strings.Compare(a.URN, b.URN) })
	for name := range r.outputs {
		out.Outputs = append(out.Outputs, name)
	}
	slices.Sort(out.Outputs)
	return out
}

// plainInputs turns a property value into JSON-able values, keeping the
// secret marks ({"secret": value}) since a value that stops being secret
// is a change too.
func plainInputs(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return map[string]any{"secret": plainInputs(v.SecretValue().Element)}
	case v.IsObject():
		m := map[string]any{}
		for k, e := range v.ObjectValue() {
			m[string(k)] = plainInputs(e)
		}
		return m
	case v.IsArray():
		a := []any{}
		for _, e := range v.ArrayValue() {
			a = append(a, plainInputs(e))
		}
		return a
	case v.IsComputed() || v.IsOutput():
		return "<unknown>"
	case v.IsResourceReference():
		return map[string]any{"ref": string(v.ResourceReferenceValue().URN)}
	}
	return v.V
}

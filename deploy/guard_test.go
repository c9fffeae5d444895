package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readEvents reads engine events written one JSON object a line, as the
// CLI's --json and JSONEvents write them.
func readEvents(t *testing.T, path string) []events.EngineEvent {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var evs []events.EngineEvent
	for line := range strings.SplitSeq(strings.TrimSpace(string(raw)), "\n") {
		var e apitype.EngineEvent
		require.NoError(t, json.Unmarshal([]byte(line), &e), line)
		evs = append(evs, events.EngineEvent{EngineEvent: e})
	}
	return evs
}

// TestGuardedReplacementsFromAPreview: the events of a preview
// (testdata/preview-replace-events.jsonl, in the engine's JSON event
// format: a zone change that replaces the GitLab server with
// create-replacement, replace and delete-replaced steps, a removed
// cluster, an updated volume, a replaced readiness wait and an unchanged
// network) give one Replacement per guarded resource replaced or deleted,
// with the keys that force it; updates, unguarded types and same steps
// give none.
func TestGuardedReplacementsFromAPreview(t *testing.T) {
	t.Parallel()
	got := GuardedReplacements(readEvents(t, "testdata/preview-replace-events.jsonl"))
	require.Len(t, got, 2, "%+v", got)
	server, cluster := got[0], got[1]
	assert.Equal(t, "urn:pulumi:dev::gitlab-kapsule::gitlab-kapsule:index:GitLabHost$scaleway:instance/server:Server::gitlab-server", server.URN)
	assert.Equal(t, "gitlab-server", server.Name)
	assert.Equal(t, "scaleway:instance/server:Server", server.Type)
	assert.Equal(t, []string{"image", "zone"}, server.Keys)
	assert.False(t, server.Delete)
	assert.Equal(t, serverCost, server.Cost)
	assert.Equal(t, GuardedServer, server.Kind)

	assert.Equal(t, "scaleway:kubernetes/cluster:Cluster", cluster.Type)
	assert.Equal(t, GuardedCluster, cluster.Kind)
	assert.True(t, cluster.Delete, "the program no longer declares it")
	assert.Empty(t, cluster.Keys)

	err := error(&ReplaceError{Stack: "dev", Replacements: got})
	assert.True(t, errors.Is(err, ErrReplaceRefused))
	msg := err.Error()
	for _, want := range []string{
		`scaleway:instance/server:Server "gitlab-server" (` + server.URN + `) would be replaced, forced by a change of image, zone`,
		"GitLab is down until the new host has installed and configured it, then comes back on its data volume",
		`scaleway:kubernetes/cluster:Cluster "kapsule-cluster"`,
		"would be deleted: the Kapsule cluster is recreated: every workload",
		AllowReplaceFlag, "Options.AllowReplace", "backup",
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "gitlab-ready", "a readiness wait is not guarded")
	assert.NotContains(t, msg, "gitlab-data", "an update of the volume is not a replacement")
}

// TestGuardedReplacementsDetailedDiffAndRetained: without the engine's
// Keys the replacing kinds of the detailed diff name the inputs; a
// retained volume's deletion says it stays in Scaleway.
func TestGuardedReplacementsDetailedDiffAndRetained(t *testing.T) {
	t.Parallel()
	pre := func(m apitype.StepEventMetadata) events.EngineEvent {
		return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: m}}}
	}
	const vol = "urn:pulumi:dev::p::scaleway:block/volume:Volume::gitlab-data"
	const pn = "urn:pulumi:dev::p::scaleway:network/privateNetwork:PrivateNetwork::network-pn"
	got := GuardedReplacements([]events.EngineEvent{
		pre(apitype.StepEventMetadata{Op: apitype.OpDelete, URN: vol, Type: "scaleway:block/volume:Volume",
			Old: &apitype.StepEventStateMetadata{RetainOnDelete: true}}),
		pre(apitype.StepEventMetadata{Op: apitype.OpReplace, URN: pn, Type: "scaleway:network/privateNetwork:PrivateNetwork",
			DetailedDiff: map[string]apitype.PropertyDiff{
				"ipv4Subnet.subnet": {Kind: apitype.DiffUpdateReplace},
				"tags":              {Kind: apitype.DiffUpdate},
			}}),
		pre(apitype.StepEventMetadata{Op: apitype.OpUpdate, URN: "urn:pulumi:dev::p::scaleway:object/bucket:Bucket::b", Type: "scaleway:object/bucket:Bucket"}),
	})
	require.Len(t, got, 2)
	assert.True(t, got[0].Delete)
	assert.True(t, got[0].Retained)
	assert.Equal(t, GuardedVolume, got[0].Kind)
	assert.Contains(t, (&ReplaceError{Stack: "dev", Replacements: got[:1]}).Error(), "retained in Scaleway, no longer managed")
	assert.Equal(t, []string{"ipv4Subnet.subnet"}, got[1].Keys)
	assert.Equal(t, networkCost, got[1].Cost)
	assert.Equal(t, GuardedNetwork, got[1].Kind)
}

// TestPreviewOptionsMirrorUp: the guard's preview plans what the up
// would do: its targets, exclusions, forced replacements and refresh.
func TestPreviewOptionsMirrorUp(t *testing.T) {
	t.Parallel()
	var p optpreview.Options
	for _, o := range previewOptions([]optup.Option{
		optup.Target([]string{"urn:a"}), optup.TargetDependents(), optup.Replace([]string{"urn:b"}),
		optup.Exclude([]string{"urn:c"}), optup.Refresh(), optup.Parallel(3), optup.Message("m"),
	}) {
		o.ApplyOption(&p)
	}
	assert.Equal(t, []string{"urn:a"}, p.Target)
	assert.True(t, p.TargetDependents)
	assert.Equal(t, []string{"urn:b"}, p.Replace)
	assert.Equal(t, []string{"urn:c"}, p.Exclude)
	assert.True(t, p.Refresh)
	assert.Equal(t, 3, p.Parallel)
	assert.Empty(t, p.EventStreams, "the guard sets its own")
}

// TestJudgeCallsBeforeReplaceOnlyWhenAllowed: Up's decision after its
// preview. Nothing guarded replaced goes on without calling the hook;
// without AllowReplace it refuses and never calls it; with AllowReplace the
// hook gets the replacements (a copy), and its error stops the up with a
// *BeforeReplaceError that names them, says nothing changed and wraps the
// hook's error; a cancelled context is ErrCancelled. Up previews when it
// refuses or has a hook to call, and not with AllowReplace alone.
func TestJudgeCallsBeforeReplaceOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	rs := []Replacement{
		{URN: "urn:pulumi:dev::p::scaleway:instance/server:Server::gitlab-server", Type: "scaleway:instance/server:Server", Name: "gitlab-server", Keys: []string{"image"}},
		{URN: "urn:pulumi:dev::p::scaleway:block/volume:Volume::gitlab-data", Type: "scaleway:block/volume:Volume", Name: "gitlab-data", Delete: true},
	}
	var calls [][]Replacement
	hookErr := errors.New("the backup failed")
	hook := func(fail error) func(context.Context, []Replacement) error {
		return func(_ context.Context, got []Replacement) error {
			calls = append(calls, got)
			return fail
		}
	}

	require.NoError(t, judge(t.Context(), Options{StackName: "dev", AllowReplace: true, BeforeReplace: hook(hookErr)}, nil))
	assert.Empty(t, calls, "nothing guarded is replaced: no hook")

	err := judge(t.Context(), Options{StackName: "dev", BeforeReplace: hook(nil)}, rs)
	assert.ErrorIs(t, err, ErrReplaceRefused)
	assert.Empty(t, calls, "refused: the hook is not called")

	require.NoError(t, judge(t.Context(), Options{StackName: "dev", AllowReplace: true}, rs), "allowed without a hook")

	require.NoError(t, judge(t.Context(), Options{StackName: "dev", AllowReplace: true, BeforeReplace: hook(nil)}, rs))
	require.Len(t, calls, 1)
	assert.Equal(t, rs, calls[0], "the hook gets what the preview replaces")

	err = judge(t.Context(), Options{StackName: "dev", AllowReplace: true, BeforeReplace: hook(hookErr)}, rs)
	be, ok := errors.AsType[*BeforeReplaceError](err)
	require.True(t, ok, "%T %v", err, err)
	assert.Equal(t, rs, be.Replacements)
	assert.ErrorIs(t, err, hookErr)
	assert.Equal(t, `up of stack "dev" stopped before replacing or deleting scaleway:instance/server:Server "gitlab-server", `+
		`scaleway:block/volume:Volume "gitlab-data", and changed nothing: the backup failed`, err.Error())
	assert.True(t, mappedAlready(err), "run keeps the message as it is")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = judge(ctx, Options{StackName: "dev", AllowReplace: true, BeforeReplace: func(ctx context.Context, _ []Replacement) error { return ctx.Err() }}, rs)
	assert.ErrorIs(t, err, ErrCancelled)
	assert.Contains(t, err.Error(), "nothing was changed")

	assert.True(t, Options{}.guards(), "refusing needs the preview")
	assert.False(t, Options{AllowReplace: true}.guards(), "allowed without a hook: no preview")
	assert.True(t, Options{AllowReplace: true, BeforeReplace: hook(nil)}.guards(), "allowed with a hook: the preview says what it gets")
}

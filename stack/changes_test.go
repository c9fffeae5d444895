package stack_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What a change of configuration does to the resources, comparing two runs
// of the program under the mocks: the helpers of TestChangeMatrix
// (changematrix_test.go), which holds every key's effect to docs/changes.md.
// (It replaces TestEachKeyTouchesOnlyItsResources, whose lists of touched
// resources are now the table's resources column.)

// Effects, from the least to the most destructive.
const (
	effectNone            = "none"
	effectInPlace         = "in place"
	effectReplacement     = "replacement"
	effectGuardedDeletion = "deletion (guarded)"
	effectGuardedReplace  = "replacement (guarded)"
)

// guardedReplacementNote says what a guarded effect costs the operator.
const guardedReplacementNote = "the guard in deploy/ refuses it without " + deploy.AllowReplaceFlag

var effectOrder = []string{effectNone, effectInPlace, effectReplacement, effectGuardedDeletion, effectGuardedReplace}

// touch is what one change does to one resource.
type touch struct {
	name, typ string
	// mark is the resource as the table's resources column writes it:
	// "+name" added, "-name" removed, "name" updated, "name!" replaced.
	mark   string
	effect string
	// why names the force-new inputs, or the URN change, of a replacement.
	why string
}

// touches compares two runs by URN. A resource removed under one URN and
// added under another with the same type and name (a new parent) is
// replaced: Pulumi sees a delete and a create.
func touches(table forceNewTable, before, after *mockcloud.Cloud) []touch {
	byURN := func(c *mockcloud.Cloud) map[string]mockcloud.Resource {
		m := map[string]mockcloud.Resource{}
		for _, r := range c.Resources() {
			m[r.URN] = r
		}
		return m
	}
	old, cur := byURN(before), byURN(after)
	guarded := func(typ string) bool { return table.Types[typ].Guarded }
	var out []touch
	added := map[[2]string]mockcloud.Resource{}
	for urn, r := range cur {
		o, ok := old[urn]
		switch {
		case !ok:
			added[[2]string{r.Type, r.Name}] = r
		case o.Inputs.DeepEquals(r.Inputs):
			// Options the engine keeps in the state change nothing in
			// the cloud, but they change what a later delete does.
			if o.RetainOnDelete != r.RetainOnDelete || o.DeleteBeforeReplace != r.DeleteBeforeReplace {
				out = append(out, touch{name: r.Name, typ: r.Type, mark: r.Name, effect: effectInPlace,
					why: fmt.Sprintf("retainOnDelete %t, deleteBeforeReplace %t", r.RetainOnDelete, r.DeleteBeforeReplace)})
			}
		default:
			t := touch{name: r.Name, typ: r.Type, mark: r.Name, effect: effectInPlace}
			if forced := table.forcedBy(r.Type, o.Inputs, r.Inputs); len(forced) > 0 {
				t.mark, t.effect, t.why = r.Name+"!", effectReplacement, "force-new "+strings.Join(forced, ", ")
				if guarded(r.Type) {
					t.effect = effectGuardedReplace
				}
			}
			out = append(out, t)
		}
	}
	for urn, r := range old {
		if _, ok := cur[urn]; ok {
			continue
		}
		id := [2]string{r.Type, r.Name}
		if _, moved := added[id]; moved {
			delete(added, id)
			t := touch{name: r.Name, typ: r.Type, mark: r.Name + "!", effect: effectReplacement, why: "its URN changes"}
			if guarded(r.Type) {
				t.effect = effectGuardedReplace
			}
			out = append(out, t)
			continue
		}
		t := touch{name: r.Name, typ: r.Type, mark: "-" + r.Name, effect: effectInPlace}
		if guarded(r.Type) {
			t.effect, t.why = effectGuardedDeletion, "deleted"
		}
		out = append(out, t)
	}
	for _, r := range added {
		out = append(out, touch{name: r.Name, typ: r.Type, mark: "+" + r.Name, effect: effectInPlace})
	}
	slices.SortFunc(out, func(a, b touch) int { return strings.Compare(a.mark, b.mark) })
	return out
}

// effectOf is the most destructive effect of a change's touches.
func effectOf(ts []touch) string {
	e := effectNone
	for _, t := range ts {
		if slices.Index(effectOrder, t.effect) > slices.Index(effectOrder, e) {
			e = t.effect
		}
	}
	return e
}

func marks(ts []touch) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.mark
	}
	return out
}

// TestTouchesByURN holds touches to what the engine would do, on made-up
// registrations: an unchanged resource is not listed (the negative
// control), a changed plain input updates, a new parent (a new URN)
// replaces, a deleted guarded resource is a guarded deletion, and options
// kept in the state count as an update.
func TestTouchesByURN(t *testing.T) {
	t.Parallel()
	const server, volume, sshKey = "scaleway:instance/server:Server", "scaleway:block/volume:Volume", "scaleway:iam/sshKey:SshKey"
	type reg struct {
		typ, name, parent string
		inputs            map[string]any
		retain            bool
	}
	cloud := func(regs ...reg) *mockcloud.Cloud {
		c := &mockcloud.Cloud{Project: mockcloud.Project, Stack: "dev"}
		for _, r := range regs {
			_, _, err := c.NewResource(pulumi.MockResourceArgs{
				TypeToken: r.typ, Name: r.name, Custom: true, Inputs: resource.NewPropertyMapFromMap(r.inputs),
				RegisterRPC: &pulumirpc.RegisterResourceRequest{Type: r.typ, Name: r.name, Parent: r.parent, RetainOnDelete: &r.retain},
			})
			require.NoError(t, err)
		}
		return c
	}
	const parentA = "urn:pulumi:dev::gitlab-kapsule::glk:index:A::a"
	const parentB = "urn:pulumi:dev::gitlab-kapsule::glk:index:B::b"
	before := cloud(
		reg{typ: server, name: "same", parent: parentA, inputs: map[string]any{"zone": "fr-par-1"}},
		reg{typ: server, name: "moved", parent: parentA, inputs: map[string]any{"zone": "fr-par-1"}},
		reg{typ: volume, name: "gone", inputs: map[string]any{"sizeInGb": 100}},
		reg{typ: volume, name: "kept", inputs: map[string]any{"sizeInGb": 100}, retain: true},
		reg{typ: sshKey, name: "renamed", inputs: map[string]any{"name": "a", "publicKey": "k"}},
	)
	after := cloud(
		reg{typ: server, name: "same", parent: parentA, inputs: map[string]any{"zone": "fr-par-1"}},
		reg{typ: server, name: "moved", parent: parentB, inputs: map[string]any{"zone": "fr-par-1"}},
		reg{typ: volume, name: "kept", inputs: map[string]any{"sizeInGb": 100}},
		reg{typ: sshKey, name: "renamed", inputs: map[string]any{"name": "b", "publicKey": "k"}},
		reg{typ: sshKey, name: "new", inputs: map[string]any{"name": "c", "publicKey": "k"}},
	)
	ts := touches(loadForceNew(t), before, after)
	assert.Equal(t, []string{"+new", "-gone", "kept", "moved!", "renamed"}, marks(ts))
	effects := map[string]string{}
	for _, tc := range ts {
		effects[tc.name] = tc.effect
	}
	assert.Equal(t, map[string]string{
		"new": effectInPlace, "gone": effectGuardedDeletion, "kept": effectInPlace, "moved": effectGuardedReplace, "renamed": effectInPlace,
	}, effects)
	assert.Equal(t, effectGuardedReplace, effectOf(ts))
	assert.Equal(t, effectNone, effectOf(touches(loadForceNew(t), before, before)))
}

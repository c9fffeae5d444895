package provider

import (
	"context"
	"errors"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/integration"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

const token = "gitlabwait:index:GitLabReady"

var urn = presource.NewURN("test", "provider", "", token, "gitlab")

func newServer(t *testing.T, opts Options) integration.Server {
	t.Helper()
	prov, err := New(opts)
	require.NoError(t, err)
	s, err := integration.NewServer(context.Background(), Name, semver.MustParse(Version), integration.WithProvider(prov))
	require.NoError(t, err)
	return s
}

func inputs(key, host string, port int, extra map[string]property.Value) property.Map {
	m := map[string]property.Value{
		"bastionHost": property.New("bastion.invalid"),
		"bastionPort": property.New(61000.0),
		"privateKey":  property.New(key).WithSecret(true),
		"targetHost":  property.New(host),
		"targetPort":  property.New(float64(port)),
		"instanceId":  property.New("instance-1"),
	}
	for k, v := range extra {
		m[k] = v
	}
	return property.NewMap(m)
}

func TestSchemaToken(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	resp, err := s.GetSchema(p.GetSchemaRequest{})
	require.NoError(t, err)
	assert.Contains(t, resp.Schema, `"`+token+`"`)
	assert.Contains(t, resp.Schema, `"privateKey"`)
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	gitlab := &schedule{codes: []int{502, 404, 200}}
	host, port := startGitLab(t, gitlab)
	s := newServer(t, Options{Waiter: &Waiter{DialSSH: fb.Dial, Clock: newFakeClock()}})

	integration.LifeCycleTest{
		Resource: token,
		Create: integration.Operation{
			Inputs: inputs(key, host, port, nil),
			Hook: func(_, out property.Map) {
				assert.NotEmpty(t, out.Get("readyAt").AsString())
				assert.Equal(t, ssh.FingerprintSHA256(fb.hostSigner.PublicKey()), out.Get("bastionHostKeyFingerprint").AsString())
				assert.True(t, out.Get("privateKey").Secret(), "the key stays a secret in state")
				assert.Equal(t, "bastion", out.Get("bastionUser").AsString(), "defaults are applied")
				assert.Equal(t, "/-/readiness?all=1", out.Get("path").AsString())
				assert.EqualValues(t, 3, gitlab.n.Load(), "the create waited: 502, 404, 200")
			},
		},
		Updates: []integration.Operation{
			{
				// A longer timeout is recorded without waiting again.
				Inputs: inputs(key, host, port, map[string]property.Value{"timeout": property.New("1h")}),
				Hook: func(_, out property.Map) {
					assert.Equal(t, "1h", out.Get("timeout").AsString())
					assert.NotEmpty(t, out.Get("readyAt").AsString(), "outputs survive an update")
					assert.EqualValues(t, 3, gitlab.n.Load(), "an update does not poll")
				},
			},
			{
				// A replaced instance (same reserved address) means waiting again.
				Inputs: inputs(key, host, port, map[string]property.Value{
					"timeout": property.New("1h"), "instanceId": property.New("instance-2"),
				}),
				Hook: func(_, out property.Map) {
					assert.EqualValues(t, 4, gitlab.n.Load(), "a replacement polls again")
				},
			},
		},
	}.Run(t, s)
}

func TestPreviewDialsNothing(t *testing.T) {
	t.Parallel()
	key, _ := newKeyPEM(t)
	s := newServer(t, Options{Waiter: &Waiter{DialSSH: func(context.Context, string, *ssh.ClientConfig) (*ssh.Client, error) {
		t.Error("a preview must not dial the bastion")
		return nil, errors.New("no dialing in a preview")
	}}})
	// During a first preview the instance and its address are not known yet.
	in := inputs(key, "", 80, map[string]property.Value{
		"targetHost": property.New(property.Computed),
		"instanceId": property.New(property.Computed),
	})
	check, err := s.Check(p.CheckRequest{Urn: urn, Inputs: in})
	require.NoError(t, err)
	require.Empty(t, check.Failures, "unknown values are not reported as invalid")

	resp, err := s.Create(p.CreateRequest{Urn: urn, Properties: check.Inputs, DryRun: true})
	require.NoError(t, err)
	for _, k := range []string{"readyAt", "version", "bastionHostKeyFingerprint"} {
		assert.True(t, resp.Properties.Get(k).IsComputed(), "%s is unknown in a preview", k)
	}
}

func TestCheckReportsInvalidInputsByKey(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	in := property.NewMap(map[string]property.Value{
		"bastionHost":        property.New(""),
		"bastionPort":        property.New(70000.0),
		"privateKey":         property.New("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n").WithSecret(true),
		"targetHost":         property.New("10.0.0.10"),
		"scheme":             property.New("ftp"),
		"timeout":            property.New("soon"),
		"pollInterval":       property.New("-1s"),
		"path":               property.New("readiness"),
		"caCert":             property.New("junk"),
		"hostKeyFingerprint": property.New("MD5:aa"),
	})
	resp, err := s.Check(p.CheckRequest{Urn: urn, Inputs: in})
	require.NoError(t, err)
	got := map[string]string{}
	for _, f := range resp.Failures {
		got[f.Property] = f.Reason
	}
	for _, k := range []string{"bastionHost", "bastionPort", "privateKey", "scheme", "timeout", "pollInterval", "path", "caCert", "hostKeyFingerprint"} {
		assert.Contains(t, got, k)
	}
	assert.NotContains(t, got["privateKey"], "not a key", "the key never appears in a message")
	assert.NotContains(t, got, "targetHost")
}

func TestDiff(t *testing.T) {
	t.Parallel()
	base := GitLabReadyArgs{BastionHost: "gw", BastionPort: 61000, PrivateKey: "k", TargetHost: "10.0.0.10", InstanceID: "i-1"}
	state := GitLabReadyState{GitLabReadyArgs: base.withDefaults(), ReadyAt: "2026-01-01T00:00:00Z"}
	tests := []struct {
		name   string
		change func(*GitLabReadyArgs)
		key    string
		kind   p.DiffKind
	}{
		{"new instance", func(a *GitLabReadyArgs) { a.InstanceID = "i-2" }, "instanceId", p.UpdateReplace},
		{"new address", func(a *GitLabReadyArgs) { a.TargetHost = "10.0.0.11" }, "targetHost", p.UpdateReplace},
		{"https", func(a *GitLabReadyArgs) { a.Scheme = "https" }, "scheme", p.UpdateReplace},
		{"port", func(a *GitLabReadyArgs) { a.TargetPort = 443 }, "targetPort", p.UpdateReplace},
		{"path", func(a *GitLabReadyArgs) { a.Path = "/-/readiness" }, "path", p.UpdateReplace},
		{"new key", func(a *GitLabReadyArgs) { a.PrivateKey = "k2" }, "privateKey", p.Update},
		{"new bastion", func(a *GitLabReadyArgs) { a.BastionHost = "gw2" }, "bastionHost", p.Update},
		{"timeout", func(a *GitLabReadyArgs) { a.Timeout = "1h" }, "timeout", p.Update},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := base
			tt.change(&in)
			d, err := (&GitLabReady{}).Diff(context.Background(), inferDiff(state, in))
			require.NoError(t, err)
			assert.True(t, d.HasChanges)
			require.Len(t, d.DetailedDiff, 1)
			assert.Equal(t, tt.kind, d.DetailedDiff[tt.key].Kind)
		})
	}
	t.Run("defaults spelled out are no change", func(t *testing.T) {
		in := base
		in.BastionUser, in.TargetPort, in.Path = "bastion", 80, DefaultPath
		d, err := (&GitLabReady{}).Diff(context.Background(), inferDiff(state, in))
		require.NoError(t, err)
		assert.False(t, d.HasChanges)
	})
}

func TestReadRechecksOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	key, signer := newKeyPEM(t)
	fb := newFakeBastion(t, signer)
	gitlab := &schedule{codes: []int{200, 502}}
	host, port := startGitLab(t, gitlab)
	recheck := false
	s := newServer(t, Options{
		Waiter:  &Waiter{DialSSH: fb.Dial, Clock: newFakeClock()},
		Recheck: func(context.Context) bool { return recheck },
	})
	check, err := s.Check(p.CheckRequest{Urn: urn, Inputs: inputs(key, host, port, nil)})
	require.NoError(t, err)
	created, err := s.Create(p.CreateRequest{Urn: urn, Properties: check.Inputs})
	require.NoError(t, err)

	read, err := s.Read(p.ReadRequest{ID: created.ID, Urn: urn, Properties: created.Properties, Inputs: check.Inputs})
	require.NoError(t, err)
	assert.Equal(t, created.ID, read.ID)
	assert.EqualValues(t, 1, gitlab.n.Load(), "a plain refresh does not poll")

	recheck = true
	read, err = s.Read(p.ReadRequest{ID: created.ID, Urn: urn, Properties: created.Properties, Inputs: check.Inputs})
	require.NoError(t, err)
	assert.EqualValues(t, 2, gitlab.n.Load(), "a refresh that is asked to polls once")
	assert.Empty(t, read.ID, "GitLab not ready: the resource is gone, so the next up waits again")
}

func inferDiff(state GitLabReadyState, in GitLabReadyArgs) infer.DiffRequest[GitLabReadyArgs, GitLabReadyState] {
	return infer.DiffRequest[GitLabReadyArgs, GitLabReadyState]{ID: "gitlab", State: state, Inputs: in}
}

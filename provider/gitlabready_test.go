package provider

import (
	"context"
	"errors"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

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
	gitlab := &schedule{codes: []int{502, 404, 200}}
	env := newFakeEnv(t, gitlab, nil)
	key, host, port := env.key, env.host, env.port

	integration.LifeCycleTest{
		Resource: token,
		Create: integration.Operation{
			Inputs: inputs(key, host, port, nil),
			Hook: func(_, out property.Map) {
				assert.NotEmpty(t, out.Get("readyAt").AsString())
				assert.Equal(t, ssh.FingerprintSHA256(env.bastion.hostSigner.PublicKey()), out.Get("bastionHostKeyFingerprint").AsString())
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
	}.Run(t, env.server)
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
	testDiffCases(t, &GitLabReady{}, state, base, []diffCase[GitLabReadyArgs]{
		{"new instance", func(a *GitLabReadyArgs) { a.InstanceID = "i-2" }, "instanceId", p.UpdateReplace},
		{"new address", func(a *GitLabReadyArgs) { a.TargetHost = "10.0.0.11" }, "targetHost", p.UpdateReplace},
		{"https", func(a *GitLabReadyArgs) { a.Scheme = "https" }, "scheme", p.UpdateReplace},
		{"port", func(a *GitLabReadyArgs) { a.TargetPort = 443 }, "targetPort", p.UpdateReplace},
		{"path", func(a *GitLabReadyArgs) { a.Path = "/-/readiness" }, "path", p.UpdateReplace},
		{"new key", func(a *GitLabReadyArgs) { a.PrivateKey = "k2" }, "privateKey", p.Update},
		{"new bastion", func(a *GitLabReadyArgs) { a.BastionHost = "gw2" }, "bastionHost", p.Update},
		{"timeout", func(a *GitLabReadyArgs) { a.Timeout = "1h" }, "timeout", p.Update},
	})
	t.Run("defaults spelled out are no change", func(t *testing.T) {
		in := base
		in.BastionUser, in.TargetPort, in.Path = "bastion", 80, DefaultPath
		d, err := (&GitLabReady{}).Diff(context.Background(), infer.DiffRequest[GitLabReadyArgs, GitLabReadyState]{ID: "gitlab", State: state, Inputs: in})
		require.NoError(t, err)
		assert.False(t, d.HasChanges)
	})
}

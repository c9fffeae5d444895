package provider

import (
	"context"
	"errors"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
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

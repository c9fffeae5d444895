package gitlabwait_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
)

// TestGitLabConfiguredSendsTheProvidersInputs: the SDK sends exactly the
// inputs GitLabConfigured declares, the backup's too, and reads its outputs
// beyond the inputs.
func TestGitLabConfiguredSendsTheProvidersInputs(t *testing.T) {
	t.Parallel()
	assert.ElementsMatch(t, propertyNames(reflect.TypeFor[provider.GitLabConfiguredArgs]()),
		propertyNames(reflect.TypeFor[gitlabwait.GitLabConfiguredArgs]()))
	assert.ElementsMatch(t, propertyNames(reflect.TypeFor[provider.GitLabBackup]()),
		propertyNames(reflect.TypeFor[gitlabwait.GitLabBackupArgs]()))

	inputs := map[string]bool{}
	for _, name := range propertyNames(reflect.TypeFor[provider.GitLabConfiguredArgs]()) {
		inputs[name] = true
	}
	var want []string
	for _, name := range propertyNames(reflect.TypeFor[provider.GitLabConfiguredState]()) {
		if !inputs[name] {
			want = append(want, name)
		}
	}
	assert.ElementsMatch(t, want, outputNames(reflect.TypeFor[gitlabwait.GitLabConfigured]()))
}

// configuredMocks records GitLabConfigured's inputs and refuses any other type.
type configuredMocks struct{ inputs resource.PropertyMap }

func (m *configuredMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if args.TypeToken != gitlabwait.GitLabConfiguredType {
		return "", nil, fmt.Errorf("unexpected resource type %s", args.TypeToken)
	}
	m.inputs = args.Inputs
	return args.Name + "-id", args.Inputs, nil
}

func (m *configuredMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected call %s", args.Token)
}

// TestGitLabConfiguredSecrets: plain values passed for the key, the root
// password, the admin token, the TLS key and the backup's secret key reach
// the engine as secrets; the other inputs stay plain, and an unset backup
// stays unset.
func TestGitLabConfiguredSecrets(t *testing.T) {
	t.Parallel()
	for _, withBackup := range []bool{true, false} {
		m := &configuredMocks{}
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			args := &gitlabwait.GitLabConfiguredArgs{
				Access: gitlabwait.Access{BastionHost: pulumi.String("gw"), BastionPort: pulumi.Int(61000),
					PrivateKey: pulumi.String("KEY"), TargetHost: pulumi.String("10.0.0.10")},
				InstanceId: pulumi.String("fr-par-1/i"), Package: pulumi.String("gitlab-ce"), PackageVersion: pulumi.String("18.5.2-ce.0"),
				RootPassword: pulumi.String("root-password"), AdminToken: pulumi.String("glpat-x"),
				AdminTokenExpiresAt: pulumi.String("2027-01-01"), TlsKey: pulumi.String("TLS KEY"),
			}
			if withBackup {
				args.Backup = &gitlabwait.GitLabBackupArgs{Bucket: pulumi.String("b"), Region: pulumi.String("fr-par"),
					Endpoint: pulumi.String("https://s3.fr-par.scw.cloud"), AccessKey: pulumi.String("SCW1"), SecretKey: pulumi.String("s3-secret")}
			}
			_, err := gitlabwait.NewGitLabConfigured(ctx, "configured", args)
			return err
		}, pulumi.WithMocks("project", "stack", m))
		require.NoError(t, err)
		for _, k := range []resource.PropertyKey{"privateKey", "rootPassword", "adminToken", "tlsKey"} {
			assert.True(t, m.inputs[k].IsSecret(), "%s is a secret", k)
		}
		for _, k := range []resource.PropertyKey{"packageVersion", "package", "instanceId", "adminTokenExpiresAt"} {
			assert.False(t, m.inputs[k].ContainsSecrets(), "%s stays plain", k)
		}
		if !withBackup {
			assert.NotContains(t, m.inputs, resource.PropertyKey("backup"), "an unset backup stays unset")
			continue
		}
		backup := m.inputs["backup"].ObjectValue()
		assert.True(t, backup["secretKey"].IsSecret(), "the backup's secret key is a secret")
		assert.Equal(t, "b", backup["bucket"].StringValue())
		assert.False(t, backup["accessKey"].ContainsSecrets())
	}
}

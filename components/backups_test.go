package components

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Mock outputs of the IAM API key (secret as the provider's schema has it)
// and of the project the provider puts a bucket in when none is given: the
// ones internal/mockcloud gives the whole program.
const (
	mockBackupAccessKey = mockcloud.MockBackupAccessKey
	mockBackupSecretKey = mockcloud.MockBackupSecretKey
	mockDefaultProject  = mockcloud.MockProjectID
)

// backupCloud stands in for Scaleway's Object Storage and IAM under Pulumi's
// mock engine, as internal/mockcloud does for the other types (which it does
// not know yet): it records every registration and answers with the inputs
// plus what the provider computes (terraform-provider-scaleway
// internal/services/object/bucket.go: project_id, api_endpoint;
// internal/services/iam/api_key.go: access_key, secret_key sensitive).
// An unknown type is an error, as in mockcloud.
type backupCloud struct {
	mu        sync.Mutex
	resources []mockcloud.Resource
}

func (c *backupCloud) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	out := args.Inputs.Copy()
	switch args.TypeToken {
	case "gitlab-kapsule:index:Backups", "scaleway:iam/application:Application", "scaleway:iam/policy:Policy":
	case "scaleway:object/bucket:Bucket":
		if _, ok := out["projectId"]; !ok {
			out["projectId"] = resource.NewStringProperty(mockDefaultProject)
		}
		out["apiEndpoint"] = resource.NewStringProperty(ObjectStorageEndpoint(args.Inputs["region"].StringValue()))
	case "scaleway:iam/apiKey:ApiKey":
		out["accessKey"] = resource.NewStringProperty(mockBackupAccessKey)
		out["secretKey"] = resource.MakeSecret(resource.NewStringProperty(mockBackupSecretKey))
	default:
		return "", nil, fmt.Errorf("backupCloud: no mock for %s (%s)", args.TypeToken, args.Name)
	}
	r := mockcloud.Resource{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs, Custom: args.Custom}
	if rpc := args.RegisterRPC; rpc != nil {
		r.ID = rpc.GetImportId() // the ID to import, if any: Resource has no field of its own for it
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.SecretOutputs = rpc.GetAdditionalSecretOutputs()
		r.Dependencies = rpc.GetDependencies()
	}
	c.mu.Lock()
	c.resources = append(c.resources, r)
	c.mu.Unlock()
	id := args.ID
	if id == "" && args.Custom {
		id = args.Name + "-id"
	}
	return id, out, nil
}

func (c *backupCloud) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("backupCloud: the program called %s, which has no mock", args.Token)
}

func (c *backupCloud) one(t *testing.T, token string) mockcloud.Resource {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var found []mockcloud.Resource
	for _, r := range c.resources {
		if r.Type == token {
			found = append(found, r)
		}
	}
	require.Len(t, found, 1, "one %s", token)
	return found[0]
}

// backupOutputs are the component's outputs once resolved.
type backupOutputs struct {
	bucket, endpoint, region, project, accessKey, secretKey string
	secretIsSecret                                          bool
}

func runBackups(t *testing.T, args *BackupsArgs) (*backupCloud, backupOutputs) {
	t.Helper()
	cloud := &backupCloud{}
	var got backupOutputs
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		b, err := NewBackups(ctx, "backups", args)
		if err != nil {
			return err
		}
		pulumi.All(b.BucketName, b.Endpoint, b.Region, b.ProjectID, b.AccessKey).ApplyT(func(v []any) error {
			got.bucket, got.endpoint, got.region, got.project, got.accessKey = v[0].(string), v[1].(string), v[2].(string), v[3].(string), v[4].(string)
			return nil
		})
		b.SecretKey.ApplyT(func(s string) error {
			got.secretKey = s
			return nil
		})
		// The secret flag travels with the output.
		got.secretIsSecret = pulumi.IsSecret(b.SecretKey)
		return nil
	}, pulumi.WithMocks(mockcloud.Project, "t", cloud))
	require.NoError(t, err)
	return cloud, got
}

func TestBackupsBucketIsPrivateVersionedAndExpiresBackups(t *testing.T) {
	t.Parallel()
	cloud, got := runBackups(t, &BackupsArgs{Prefix: "glk-dev", Region: "nl-ams", RetentionDays: 45, ProjectID: "proj-a"})

	bucket := cloud.one(t, "scaleway:object/bucket:Bucket")
	in := bucket.Inputs
	assert.Equal(t, BackupBucketName("glk-dev", "proj-a"), in["name"].StringValue())
	assert.Equal(t, "nl-ams", in["region"].StringValue())
	assert.Equal(t, "proj-a", in["projectId"].StringValue())
	// Private: nothing sets a canned ACL, so the schema's default "private" applies.
	if acl, ok := in["acl"]; ok {
		assert.Equal(t, "private", acl.StringValue())
	}
	assert.True(t, in["versioning"].ObjectValue()["enabled"].BoolValue(), "versioned: an overwrite keeps the older version")
	assert.False(t, in["forceDestroy"].BoolValue(), "no delete empties the bucket")
	assert.True(t, bucket.RetainOnDelete, "destroy leaves the backups for disaster recovery")

	rules := in["lifecycleRules"].ArrayValue()
	require.Len(t, rules, 3)
	expire := rules[0].ObjectValue()
	assert.True(t, expire["enabled"].BoolValue())
	assert.Equal(t, BackupPrefix, expire["prefix"].StringValue(), "only the backups expire")
	assert.Equal(t, 45.0, expire["expiration"].ObjectValue()["days"].NumberValue())
	assert.Equal(t, 45.0, expire["noncurrentVersionExpiration"].ObjectValue()["noncurrentDays"].NumberValue(), "overwritten versions go after the same period")
	markers := rules[1].ObjectValue()
	assert.True(t, markers["enabled"].BoolValue())
	assert.Equal(t, BackupPrefix, markers["prefix"].StringValue())
	assert.Equal(t, map[string]any{"expiredObjectDeleteMarker": true}, markers["expiration"].ObjectValue().Mappable(),
		"the delete markers expirations leave go once nothing is behind them; alone in their expiration, as the provider requires")
	abort := rules[2].ObjectValue()
	assert.True(t, abort["enabled"].BoolValue())
	assert.Equal(t, float64(abortIncompleteUploadDays), abort["abortIncompleteMultipartUploadDays"].NumberValue())
	_, hasPrefix := abort["prefix"]
	assert.False(t, hasPrefix, "incomplete uploads are dropped bucket-wide")

	for _, typ := range []string{"scaleway:object/bucketAcl:BucketAcl", "scaleway:object/bucketPolicy:BucketPolicy"} {
		for _, r := range cloud.resources {
			assert.NotEqual(t, typ, r.Type, "nothing opens the bucket, and no bucket policy locks its owner out")
		}
	}

	assert.Equal(t, BackupBucketName("glk-dev", "proj-a"), got.bucket)
	assert.Equal(t, "https://s3.nl-ams.scw.cloud", got.endpoint)
	assert.Equal(t, "nl-ams", got.region)
	assert.Equal(t, "proj-a", got.project)
}

func TestBackupsKeyMayReadAndWriteButNotDelete(t *testing.T) {
	t.Parallel()
	// No project given: everything follows the project the provider chose for the bucket.
	cloud, got := runBackups(t, &BackupsArgs{Prefix: "glk-dev", Region: "fr-par", RetentionDays: 30})

	app := cloud.one(t, "scaleway:iam/application:Application")
	assert.Equal(t, "glk-dev-gitlab-backup", app.Inputs["name"].StringValue())

	policy := cloud.one(t, "scaleway:iam/policy:Policy")
	assert.Equal(t, "backups-application-id", policy.Inputs["applicationId"].StringValue(), "the policy's principal is the application")
	rules := policy.Inputs["rules"].ArrayValue()
	require.Len(t, rules, 1)
	rule := rules[0].ObjectValue()
	var sets []string
	for _, v := range rule["permissionSetNames"].ArrayValue() {
		sets = append(sets, v.StringValue())
	}
	assert.ElementsMatch(t, []string{"ObjectStorageObjectsRead", "ObjectStorageObjectsWrite"}, sets)
	for _, s := range sets {
		assert.NotContains(t, s, "Delete", "the host cannot erase history")
		assert.NotContains(t, s, "FullAccess")
		assert.NotContains(t, s, "Bucket", "no bucket settings: lifecycle and versioning stay the program's")
	}
	projects := rule["projectIds"].ArrayValue()
	require.Len(t, projects, 1)
	assert.Equal(t, mockDefaultProject, projects[0].StringValue(), "scoped to the bucket's project only")
	_, orgWide := rule["organizationId"]
	assert.False(t, orgWide, "never organization-wide")

	key := cloud.one(t, "scaleway:iam/apiKey:ApiKey")
	assert.Equal(t, "backups-application-id", key.Inputs["applicationId"].StringValue())
	assert.Equal(t, mockDefaultProject, key.Inputs["defaultProjectId"].StringValue(), "the S3 API acts in the key's preferred project")
	_, userKey := key.Inputs["userId"]
	assert.False(t, userKey, "the key is the application's, nobody's personal one")
	assert.Contains(t, key.SecretOutputs, "secretKey")

	assert.Equal(t, mockBackupAccessKey, got.accessKey)
	assert.Equal(t, mockBackupSecretKey, got.secretKey)
	assert.True(t, got.secretIsSecret, "the secret key stays a Pulumi secret")
	assert.Equal(t, mockDefaultProject, got.project)
	assert.Equal(t, "glk-dev-gitlab-backups", got.bucket, "without a project id, no suffix")
}

func TestBackupsRefusesMissingArgs(t *testing.T) {
	t.Parallel()
	for _, args := range []*BackupsArgs{nil, {Region: "fr-par", RetentionDays: 1}, {Prefix: "p", RetentionDays: 1}, {Prefix: "p", Region: "fr-par"}} {
		cloud := &backupCloud{}
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			_, err := NewBackups(ctx, "b", args)
			return err
		}, pulumi.WithMocks(mockcloud.Project, "t", cloud))
		require.ErrorContains(t, err, `backups "b": Prefix, Region and RetentionDays (at least 1) are required`)
		assert.Empty(t, cloud.resources, "nothing is registered")
	}
}

func TestBackupBucketName(t *testing.T) {
	t.Parallel()
	a := BackupBucketName("glk-dev", "11111111-2222-3333-4444-555555555555")
	assert.Regexp(t, `^glk-dev-gitlab-backups-[0-9a-f]{8}$`, a, "the project's own name on a platform where bucket names are shared")
	assert.Equal(t, a, BackupBucketName("glk-dev", "11111111-2222-3333-4444-555555555555"), "the same stack in the same project finds its bucket again")
	assert.NotEqual(t, a, BackupBucketName("glk-dev", "66666666-2222-3333-4444-555555555555"), "another project, another name")
	assert.NotEqual(t, a, BackupBucketName("glk-prod", "11111111-2222-3333-4444-555555555555"))
	assert.Equal(t, "glk-dev-gitlab-backups", BackupBucketName("glk-dev", ""))

	long := "glk-" + strings.Repeat("a", 60)
	for _, n := range []string{BackupBucketName(long, "p"), BackupBucketName(long+"b", "p")} {
		assert.LessOrEqual(t, len(n), maxBucketName, n)
		assert.Regexp(t, `^[a-z0-9][a-z0-9-]*[a-z0-9]$`, n)
	}
	assert.NotEqual(t, BackupBucketName(long, "p"), BackupBucketName(long+"b", "p"), "shortened names keep apart")
}

func TestBackupsAdoptTheBucketOfADestroyedStack(t *testing.T) {
	t.Parallel()
	cloud, got := runBackups(t, &BackupsArgs{Prefix: "glk-dev", Region: "fr-par", RetentionDays: 30, AdoptExisting: true})
	bucket := cloud.one(t, "scaleway:object/bucket:Bucket")
	assert.Equal(t, "fr-par/glk-dev-gitlab-backups", bucket.ID, "imported under the provider's own ID, so a later up treats it as any resource")
	assert.True(t, bucket.RetainOnDelete)
	assert.Equal(t, "glk-dev-gitlab-backups", got.bucket)
	assert.Equal(t, "glk-dev-gitlab-backups", bucket.Inputs["name"].StringValue())

	cloud, _ = runBackups(t, &BackupsArgs{Prefix: "glk-dev", Region: "fr-par", RetentionDays: 30})
	assert.Empty(t, cloud.one(t, "scaleway:object/bucket:Bucket").ID, "a new stack creates its bucket")
}

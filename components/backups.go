package components

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/iam"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/object"
)

// BackupPrefix is the folder of the bucket GitLab's backups go to: the
// host scripts upload there, and the bucket's lifecycle rule expires what is
// under it. Anything else a user puts in the bucket is kept.
const BackupPrefix = "backups/"

// BackupPermissionSets are the IAM permission sets the host's key gets in the
// bucket's project: read and write objects, nothing else (Scaleway docs-content
// pages/object-storage/reference-content/s3-iam-permissions-equivalence.mdx:
// ObjectStorageObjectsRead covers GetObject, HeadObject and ListObjects(V2);
// ObjectStorageObjectsWrite covers PutObject and the multipart upload calls).
// ObjectStorageObjectsDelete (DeleteObject, DeleteObjects,
// AbortMultipartUpload) is left out on purpose: a host that is taken over
// cannot erase the backups, and an overwrite only makes the older version
// noncurrent, which the versioned bucket keeps for the retention period.
var BackupPermissionSets = []string{"ObjectStorageObjectsRead", "ObjectStorageObjectsWrite"}

// abortIncompleteUploadDays is when an unfinished multipart upload's parts
// are dropped: the host may not abort its own (no delete permission), and
// Scaleway bills the parts of an incomplete upload (the SDK's note on
// abortIncompleteMultipartUploadDays, pulumi-scaleway v1.54.0 object/pulumiTypes.go).
const abortIncompleteUploadDays = 1

// maxBucketName is the longest bucket name S3 (and so Scaleway) accepts.
const maxBucketName = 63

// BackupBucketName is the name of the stack's backup bucket. Scaleway bucket
// names are unique across the whole platform, every customer's buckets
// included, and a deleted bucket's name is free for anyone to take (Scaleway
// FAQ "Is there a limitation in the bucket name?"): "glk-dev-gitlab-backups"
// would be taken by the first user of this program to deploy a stack "dev".
// With the Scaleway project's id the name ends in a short hash of it, so it
// is the project's own yet the same for a new stack of the same name in the
// same project, which is how disaster recovery finds the old bucket. A name
// longer than S3's 63 characters is shortened and given a hash of the full one.
func BackupBucketName(prefix, projectID string) string {
	name := prefix + "-gitlab-backups"
	if projectID != "" {
		name += "-" + shortHash(projectID)
	}
	if len(name) <= maxBucketName {
		return name
	}
	tail := "-" + shortHash(name)
	return strings.TrimRight(name[:maxBucketName-len(tail)], "-") + tail
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// BucketImportID is the provider's ID of a bucket: "<region>/<name>".
func BucketImportID(region, bucket string) string { return region + "/" + bucket }

// BackupApplicationName is the IAM application whose key the host uses.
func BackupApplicationName(prefix string) string { return prefix + "-gitlab-backup" }

// ObjectStorageEndpoint is the S3 endpoint of a region, path style, as the
// provider computes a bucket's api_endpoint (terraform-provider-scaleway
// internal/services/object/helpers_object.go objectBucketAPIEndpointURL).
func ObjectStorageEndpoint(region string) string { return "https://s3." + region + ".scw.cloud" }

// BackupsArgs configures Backups.
type BackupsArgs struct {
	// Prefix starts every resource name, e.g. "glk-dev".
	Prefix string
	// Region is the bucket's region (Object Storage is regional).
	Region string
	// RetentionDays is how long a backup is kept, and how long an
	// overwritten or deleted version of it stays (backup:retentionDays).
	RetentionDays int
	// ProjectID is the Scaleway project the bucket belongs to: empty, the
	// provider's default project (SCW_DEFAULT_PROJECT_ID). It also gives the
	// bucket its platform-unique name (BackupBucketName); pass it whenever it
	// is known, always the same way, since a changed name replaces the bucket.
	ProjectID string
	// AdoptExisting takes over a bucket of this name that exists already
	// (kept by a destroyed stack: disaster recovery) instead of creating it,
	// which Scaleway would refuse ("Bucket already exists"). It is harmless
	// once the bucket is in the stack: the import ID is the bucket's own
	// ("<region>/<name>", terraform-provider-scaleway docs/resources/object_bucket.md
	// "Import"), and the engine treats a resource whose ID equals its import
	// ID like any other (pulumi developer-docs/architecture/import.md). The
	// bucket must be in the provider's default project.
	AdoptExisting bool
}

// Backups is the private, versioned Object Storage bucket GitLab's backups
// go to, with an IAM application whose API key may only read and write
// objects (no delete), for the GitLab host.
type Backups struct {
	pulumi.ResourceState

	// BucketName is the bucket's name.
	BucketName pulumi.StringOutput `pulumi:"bucketName"`
	// Endpoint is the region's S3 endpoint, https://s3.<region>.scw.cloud.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
	// Region is the bucket's region, the S3 signing region.
	Region pulumi.StringOutput `pulumi:"region"`
	// ProjectID is the project the bucket, and the key's permissions, are in.
	ProjectID pulumi.StringOutput `pulumi:"projectId"`
	// AccessKey is the host's access key, known once its policy exists.
	AccessKey pulumi.StringOutput `pulumi:"accessKey"`
	// SecretKey is the host's secret key. 🔒
	SecretKey pulumi.StringOutput `pulumi:"secretKey"`
}

// NewBackups creates the backup bucket, the IAM application the GitLab host
// acts as, its policy and its API key.
//
// The bucket is retained on delete: a destroyed stack's backups are what
// disaster recovery starts from, so `destroy` only forgets the bucket and
// leaves it, and its backups, in the project (billed, and emptied by the
// lifecycle rule within twice the retention period once no backup arrives).
// Deleting it would fail anyway: a versioned bucket is never empty (old
// versions remain), and without forceDestroy the provider's delete stops at
// BucketNotEmpty (terraform-provider-scaleway
// internal/services/object/bucket.go resourceObjectBucketDelete), which would
// leave a destroy half done. forceDestroy stays false so that no delete, by
// this program or by hand in the state, empties the bucket. The IAM
// application, policy and key go with the stack: no credential outlives it.
func NewBackups(ctx *pulumi.Context, name string, args *BackupsArgs, opts ...pulumi.ResourceOption) (*Backups, error) {
	if args == nil || args.Prefix == "" || args.Region == "" || args.RetentionDays < 1 {
		return nil, fmt.Errorf("backups %q: Prefix, Region and RetentionDays (at least 1) are required", name)
	}
	comp := &Backups{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:Backups", name, comp, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(comp)
	var project pulumi.StringPtrInput
	if args.ProjectID != "" {
		project = pulumi.String(args.ProjectID)
	}
	bucketName := BackupBucketName(args.Prefix, args.ProjectID)
	days := pulumi.Int(args.RetentionDays)
	bucketOpts := []pulumi.ResourceOption{parent, pulumi.RetainOnDelete(true)}
	if args.AdoptExisting {
		bucketOpts = append(bucketOpts, pulumi.Import(pulumi.ID(BucketImportID(args.Region, bucketName))))
	}

	// Fields as in pulumi-scaleway v1.54.0 object/bucket.go (BucketArgs) and
	// the provider's schema (terraform-provider-scaleway
	// internal/services/object/bucket.go bucketSchema).
	bucket, err := object.NewBucket(ctx, name+"-bucket", &object.BucketArgs{
		Name:      pulumi.String(bucketName),
		Region:    pulumi.String(args.Region),
		ProjectId: project,
		// Private: the schema's acl defaults to "private" (owner only) and the
		// provider sets it at creation. The attribute is deprecated in favour
		// of object.BucketAcl, so it is left at its default rather than
		// written (a written deprecated field warns on every preview); no
		// BucketAcl and no bucket policy ever opens the bucket.
		// Versioning: an overwrite or a delete keeps the older version, so
		// not even a host that is taken over can erase history. Once on,
		// versioning can only be suspended, never removed (the schema's note).
		Versioning:   &object.BucketVersioningArgs{Enabled: pulumi.Bool(true)},
		ForceDestroy: pulumi.Bool(false),
		LifecycleRules: object.BucketLifecycleRuleArray{
			// Backups expire after the retention period; with versioning the
			// expiration only adds a delete marker (Scaleway docs-content
			// lifecycle-rules-api.mdx, "Expiration"), and the noncurrent version
			// it leaves, like any overwritten one, goes after the same period.
			&object.BucketLifecycleRuleArgs{
				Id:                          pulumi.String("expire-backups"),
				Enabled:                     pulumi.Bool(true),
				Prefix:                      pulumi.String(BackupPrefix),
				Expiration:                  &object.BucketLifecycleRuleExpirationArgs{Days: days},
				NoncurrentVersionExpiration: &object.BucketLifecycleRuleNoncurrentVersionExpirationArgs{NoncurrentDays: days},
			},
			// The delete markers those expirations leave, once no version is
			// behind them: Scaleway expires them too (docs-content
			// object-storage/api-cli/lifecycle-rules-api.mdx, validated
			// 2026-03-31: "Expire delete markers without a non-current
			// version"). A rule of its own: the provider takes only one of
			// days, date and expired_object_delete_marker per expiration
			// (terraform-provider-scaleway internal/services/object/bucket.go).
			&object.BucketLifecycleRuleArgs{
				Id:         pulumi.String("expire-delete-markers"),
				Enabled:    pulumi.Bool(true),
				Prefix:     pulumi.String(BackupPrefix),
				Expiration: &object.BucketLifecycleRuleExpirationArgs{ExpiredObjectDeleteMarker: pulumi.Bool(true)},
			},
			// Bucket-wide, without a prefix, as the SDK's note advises for
			// incomplete multipart uploads (they are billed wherever they are).
			&object.BucketLifecycleRuleArgs{
				Id:                                 pulumi.String("abort-incomplete-uploads"),
				Enabled:                            pulumi.Bool(true),
				AbortIncompleteMultipartUploadDays: pulumi.Int(abortIncompleteUploadDays),
			},
		},
		Tags: pulumi.StringMap{
			"managed-by": pulumi.String("gitlab-kapsule"),
			"stack":      pulumi.String(args.Prefix),
			"purpose":    pulumi.String("gitlab-backups"),
		},
	}, bucketOpts...)
	if err != nil {
		return nil, fmt.Errorf("backups %q: bucket: %w", name, err)
	}
	// The project the bucket is in, computed by the provider when none is
	// given: the key's permissions and its preferred project follow it.
	projectID := bucket.ProjectId

	app, err := iam.NewApplication(ctx, name+"-application", &iam.ApplicationArgs{
		Name:        pulumi.String(BackupApplicationName(args.Prefix)),
		Description: pulumi.String("GitLab host of stack " + args.Prefix + ": uploads GitLab's backups to " + bucketName),
		Tags:        pulumi.ToStringArray([]string{"gitlab-kapsule", args.Prefix, "gitlab-backups"}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("backups %q: iam application: %w", name, err)
	}
	// IAM scopes Object Storage permissions to whole projects, and resource-
	// level conditions do not cover Object Storage (docs-content
	// iam/policies-permissions/supported-products-resource-level.mdx lists
	// IAM, Key Manager and Secret Manager only): these permissions reach
	// every bucket of the project. A bucket policy would not narrow them to
	// this bucket either: it restricts who may use the bucket it is put on,
	// not what the key may do elsewhere, and with version 2023-04-17 it denies
	// every principal it does not name (docs-content
	// object-storage/api-cli/bucket-policy.mdx), so this program's own
	// credentials, or a colleague's or CI's, would lose the bucket, which only
	// the Organization's Owner can undo (macros/storage/important-bucket-policy.mdx).
	// Only a project of its own scopes the key to the bucket: ProjectID.
	policy, err := iam.NewPolicy(ctx, name+"-policy", &iam.PolicyArgs{
		Name:          pulumi.String(BackupApplicationName(args.Prefix)),
		Description:   pulumi.String("read and write objects (no delete) for GitLab's backups of stack " + args.Prefix),
		ApplicationId: app.ID(),
		Rules: iam.PolicyRuleArray{&iam.PolicyRuleArgs{
			ProjectIds:         pulumi.StringArray{projectID},
			PermissionSetNames: pulumi.ToStringArray(BackupPermissionSets),
		}},
		Tags: pulumi.ToStringArray([]string{"gitlab-kapsule", args.Prefix, "gitlab-backups"}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("backups %q: iam policy: %w", name, err)
	}
	// The S3 API carries no project: a key acts in its preferred project
	// (docs-content iam/api-cli/using-api-key-object-storage.mdx), which must
	// be the bucket's. secretKey is sensitive in the provider's schema
	// (internal/services/iam/api_key.go) and the SDK marks it secret; it is
	// asked for again here so no SDK change can make it plain.
	key, err := iam.NewApiKey(ctx, name+"-api-key", &iam.ApiKeyArgs{
		ApplicationId:    app.ID(),
		DefaultProjectId: projectID,
		Description:      pulumi.String("GitLab backups of stack " + args.Prefix + " (" + bucketName + ")"),
	}, parent, pulumi.AdditionalSecretOutputs([]string{"secretKey"}))
	if err != nil {
		return nil, fmt.Errorf("backups %q: api key: %w", name, err)
	}

	comp.BucketName = bucket.Name
	comp.Endpoint = pulumi.String(ObjectStorageEndpoint(args.Region)).ToStringOutput()
	comp.Region = pulumi.String(args.Region).ToStringOutput()
	comp.ProjectID = projectID
	// A key is only usable once its policy exists (and Scaleway may take up
	// to 5 minutes to apply a new Object Storage policy, same page): whoever
	// takes the key waits for the policy too.
	comp.AccessKey = after(key.AccessKey, policy.ID())
	comp.SecretKey = pulumi.ToSecret(after(key.SecretKey, policy.ID())).(pulumi.StringOutput)

	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{
		"bucketName": comp.BucketName,
		"endpoint":   comp.Endpoint,
		"region":     comp.Region,
		"projectId":  comp.ProjectID,
		"accessKey":  comp.AccessKey,
		"secretKey":  comp.SecretKey,
	}); err != nil {
		return nil, err
	}
	return comp, nil
}

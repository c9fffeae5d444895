package stack

import (
	"os"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/preflight"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// newBackups makes the backup bucket and its scoped key when backup:enabled,
// and returns where GitLabHost sends its backups; nil for both when off.
func newBackups(ctx *pulumi.Context, cfg *config.Config) (*components.Backups, *components.BackupTarget, error) {
	if !cfg.Backup.Enabled {
		_ = ctx.Log.Warn("backup:enabled is false: nothing backs GitLab up, and an upgrade runs without a backup first", nil)
		return nil, nil, nil
	}
	// The provider's project, read as the provider reads it: the bucket's
	// platform-unique name is derived from it (components.BackupBucketName).
	projectID, _ := ctx.GetConfig(preflight.KeyProjectID)
	if projectID == "" {
		projectID = os.Getenv(preflight.EnvProjectID)
	}
	backups, err := components.NewBackups(ctx, "backups", &components.BackupsArgs{
		Prefix: cfg.Prefix, Region: cfg.Region, RetentionDays: cfg.Backup.RetentionDays,
		ProjectID: projectID, AdoptExisting: cfg.Backup.AdoptBucket,
	})
	if err != nil {
		return nil, nil, err
	}
	return backups, &components.BackupTarget{
		Bucket: backups.BucketName, Region: backups.Region, Endpoint: backups.Endpoint,
		AccessKey: backups.AccessKey, SecretKey: backups.SecretKey, Schedule: cfg.Backup.Schedule,
	}, nil
}

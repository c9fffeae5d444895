package components

import (
	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/block"
)

// dataVolumeIOPS is the data volume's performance class: Scaleway's Block
// Storage offers 5,000 and 15,000 IOPS volumes (iops is required by the
// provider: terraform-provider-scaleway internal/services/block/volume.go;
// docs-content block-storage "sbs_5k"/"sbs_15k"). 5K suits a GitLab of this
// size (GitLab's reference architectures ask for SSDs, not a rate).
const dataVolumeIOPS = 5000

// newGitLabDataVolume creates the block volume that holds GitLab's data
// (/var/opt/gitlab) and configuration with its secrets (/etc/gitlab), apart
// from the host's root volume, so a replaced host comes back with every
// repository, user and token. The host scripts mount it (hostscripts).
//
// It is kept when deleted unless gitlabHost:retainDataVolume is false: the
// engine then only forgets it, and destroy leaves it in the Scaleway
// project. Its size may grow in place; the provider refuses to shrink it
// (customDiffCannotShrink in volume.go), and its zone is the host's.
func newGitLabDataVolume(ctx *pulumi.Context, name string, args *GitLabHostArgs, opts ...pulumi.ResourceOption) (*block.Volume, error) {
	if !args.RetainDataVolume {
		_ = ctx.Log.Warn("gitlabHost:retainDataVolume is false: destroying the stack, or replacing the volume, deletes GitLab's data volume "+
			"with every repository, user and token; only the backups in Object Storage remain", nil)
	}
	return block.NewVolume(ctx, name+"-data", &block.VolumeArgs{
		Name:     pulumi.String(args.Prefix + "-gitlab-data"),
		Zone:     pulumi.String(args.Zone),
		SizeInGb: pulumi.Int(args.DataVolumeSizeGB),
		Iops:     pulumi.Int(dataVolumeIOPS),
		Tags:     pulumi.ToStringArray([]string{"gitlab-kapsule", args.Prefix, "gitlab-data"}),
	}, append(opts, pulumi.RetainOnDelete(args.RetainDataVolume))...)
}

// args is the backup target as GitLabConfigured takes it; nil for none.
func (b *BackupTarget) args() *gitlabwait.GitLabBackupArgs {
	if b == nil {
		return nil
	}
	return &gitlabwait.GitLabBackupArgs{
		Bucket: b.Bucket, Region: b.Region, Endpoint: b.Endpoint,
		AccessKey: b.AccessKey, SecretKey: b.SecretKey,
		Schedule: pulumi.String(b.Schedule),
	}
}

package gitlabwait

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// GitLabConfiguredType is the resource token served by pulumi-resource-gitlabwait.
const GitLabConfiguredType = Package + ":index:GitLabConfigured"

// GitLabConfigured converges the GitLab host over SSH through the Public
// Gateway's SSH bastion: it uploads the host scripts and a payload of
// settings and secrets, runs gitlab-kapsule-apply, then waits until GitLab
// answers ready. Every change is an update in place; one that skips a
// required GitLab upgrade stop, a downgrade or gitlab-ee to gitlab-ce fails
// the preview. Deleting it does nothing on the host.
type GitLabConfigured struct {
	pulumi.CustomResourceState

	// Version is the package version installed.
	Version pulumi.StringOutput `pulumi:"version"`
	// PreviousVersion is the version installed before the last version change, empty if none.
	PreviousVersion pulumi.StringOutput `pulumi:"previousVersion"`
	// ConfiguredAt is when the host was last converged (RFC 3339).
	ConfiguredAt pulumi.StringOutput `pulumi:"configuredAt"`
	// SshHostKeyFingerprint is the SHA256 fingerprint of the GitLab host's SSH
	// host key, trusted on first use for each instanceId.
	SshHostKeyFingerprint pulumi.StringOutput `pulumi:"sshHostKeyFingerprint"`
	// TokenExpiresAt is the expiry date (YYYY-MM-DD) of the admin token installed.
	TokenExpiresAt pulumi.StringOutput `pulumi:"tokenExpiresAt"`
	// BastionHostKeyFingerprint is the SHA256 fingerprint of the bastion host key that was trusted.
	BastionHostKeyFingerprint pulumi.StringOutput `pulumi:"bastionHostKeyFingerprint"`
}

// GitLabBackupArgs say where and when the host backs GitLab up.
type GitLabBackupArgs struct {
	// Bucket is the Object Storage bucket; backups go under backups/.
	Bucket pulumi.StringInput `pulumi:"bucket"`
	// Region is the bucket's region, e.g. fr-par.
	Region pulumi.StringInput `pulumi:"region"`
	// Endpoint is the S3 endpoint, e.g. https://s3.fr-par.scw.cloud.
	Endpoint pulumi.StringInput `pulumi:"endpoint"`
	// AccessKey is the access key of credentials scoped to the bucket.
	AccessKey pulumi.StringInput `pulumi:"accessKey"`
	// SecretKey is the secret key of those credentials. Always sent as a secret.
	SecretKey pulumi.StringInput `pulumi:"secretKey"`
	// Schedule is the backup timer's systemd OnCalendar (e.g. daily); unset installs no timer.
	Schedule pulumi.StringPtrInput `pulumi:"schedule"`
}

// GitLabConfiguredArgs are the inputs of GitLabConfigured. Access's CaCert
// is also put among GitLab's trusted certificates on the host; its Timeout
// defaults to 45m, and to 6h for an update that changes PackageVersion (the
// run backs GitLab up before the upgrade).
type GitLabConfiguredArgs struct {
	Access
	// SshPort is the GitLab host's sshd port; 22 when unset.
	SshPort pulumi.IntPtrInput `pulumi:"sshPort"`
	// SshUser is the GitLab host's login; root when unset.
	SshUser pulumi.StringPtrInput `pulumi:"sshUser"`
	// InstanceId is the server's id: a new one is a new host, configured in
	// full, whose SSH host key is trusted anew.
	InstanceId pulumi.StringInput `pulumi:"instanceId"`
	// DataVolumeId is the id of the block volume that holds /etc/gitlab and /var/opt/gitlab.
	DataVolumeId pulumi.StringInput `pulumi:"dataVolumeId"`
	// DataVolumeSizeGb is the volume's size: a grown one runs the host scripts again, which grow the filesystem.
	DataVolumeSizeGb pulumi.IntPtrInput `pulumi:"dataVolumeSizeGb"`
	// Package is the Omnibus package: gitlab-ce or gitlab-ee.
	Package pulumi.StringInput `pulumi:"package"`
	// PackageVersion is the Omnibus package version to install, e.g. 18.5.2-ce.0.
	PackageVersion pulumi.StringInput `pulumi:"packageVersion"`
	// GitlabRb is the content of /etc/gitlab/gitlab.rb; it must hold no secret.
	GitlabRb pulumi.StringInput `pulumi:"gitlabRb"`
	// RootPassword is the password of GitLab's root user. Always sent as a secret.
	RootPassword pulumi.StringInput `pulumi:"rootPassword"`
	// AdminToken is the automation's personal access token. Always sent as a secret.
	AdminToken pulumi.StringInput `pulumi:"adminToken"`
	// AdminTokenExpiresAt is the admin token's expiry date, YYYY-MM-DD.
	AdminTokenExpiresAt pulumi.StringInput `pulumi:"adminTokenExpiresAt"`
	// TlsCert is GitLab's PEM certificate (chain); unset without TLS.
	TlsCert pulumi.StringPtrInput `pulumi:"tlsCert"`
	// TlsKey is the certificate's PEM private key; unset without TLS. Always sent as a secret.
	TlsKey pulumi.StringPtrInput `pulumi:"tlsKey"`
	// Backup is where and when the host backs GitLab up; unset, it does not.
	Backup *GitLabBackupArgs `pulumi:"backup"`
}

// NewGitLabConfigured registers a GitLabConfigured resource.
func NewGitLabConfigured(ctx *pulumi.Context, name string, args *GitLabConfiguredArgs, opts ...pulumi.ResourceOption) (*GitLabConfigured, error) {
	if args == nil {
		args = &GitLabConfiguredArgs{}
	}
	a := *args
	a.PrivateKey, a.RootPassword, a.AdminToken, a.TlsKey = secret(a.PrivateKey), secret(a.RootPassword), secret(a.AdminToken), secret(a.TlsKey)
	props := inputs(&a)
	if b := a.Backup; b != nil {
		backup := *b
		backup.SecretKey = secret(backup.SecretKey)
		props["backup"] = inputs(&backup)
	}
	return register[GitLabConfigured](ctx, GitLabConfiguredType, name, props, opts)
}

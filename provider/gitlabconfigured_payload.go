package provider

import "github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"

// hostSettings are the settings and secrets GitLabConfigured hands the host
// scripts: what the payload carries (hostscripts.Payload renders it).
func hostSettings(a GitLabConfiguredArgs) hostscripts.Settings {
	s := hostscripts.Settings{
		Package:             a.Package,
		Version:             a.PackageVersion,
		DataVolumeID:        a.DataVolumeID,
		GitLabRB:            a.GitLabRb,
		RootPassword:        a.RootPassword,
		AdminToken:          a.AdminToken,
		AdminTokenExpiresAt: a.AdminTokenExpiresAt,
		TLSCert:             a.TLSCert,
		TLSKey:              a.TLSKey,
		CACert:              a.CaCert,
	}
	if b := a.Backup; b != nil {
		s.BackupBucket, s.BackupRegion, s.BackupEndpoint = b.Bucket, b.Region, backupEndpointHost(b.Endpoint)
		s.BackupAccessKey, s.BackupSecretKey, s.BackupSchedule = b.AccessKey, b.SecretKey, b.Schedule
	}
	return s
}

// hostFiles are what one run uploads: the host scripts, then the payload.
func hostFiles(a GitLabConfiguredArgs, runID string) []hostscripts.File {
	return append(hostscripts.Files(), hostscripts.File{Path: hostscripts.PayloadPath(runID), Mode: 0o600, Content: hostscripts.Payload(hostSettings(a))})
}

package hostscripts

import (
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

//go:embed gitlab-kapsule-apply gitlab-kapsule-backup gitlab-kapsule-restore set-root-password.rb ensure-admin-token.rb pending-migrations.rb
var scripts embed.FS

// Paths on the GitLab host. The scripts name the same paths; a test checks
// that they agree.
const (
	ApplyPath   = "/usr/local/sbin/gitlab-kapsule-apply"
	BackupPath  = "/usr/local/sbin/gitlab-kapsule-backup"
	RestorePath = "/usr/local/sbin/gitlab-kapsule-restore"
	// LibDir holds the Ruby scripts; gitlab-rails runner reads them as the git user.
	LibDir = "/usr/local/lib/gitlab-kapsule"
	// RunDir is on /run (tmpfs): the payload and the status files live there.
	RunDir = "/run/gitlab-kapsule"
	// LogDir holds one log per run, apply-<runID>.log.
	LogDir = "/var/log/gitlab-kapsule"
	// TokenName is the automation token's name in GitLab.
	TokenName = "gitlab-kapsule-automation"
	// DataMount is where the data volume is mounted; /etc/gitlab and
	// /var/opt/gitlab are bound from its etc-gitlab and var-opt-gitlab.
	DataMount = "/mnt/gitlab-kapsule-data"
	// DevicePrefix + the volume's id is the data volume's device.
	DevicePrefix = "/dev/disk/by-id/scsi-0SCW_sbs_volume-"
	// UploadCommand is the first session of a run: stdin is a tar (Files()
	// and the payload) extracted with owners and modes as archived.
	UploadCommand = "mkdir -p -m 0700 " + RunDir + " && tar -x -p -o -C /"
	// StatusDone is the status of a run that finished; a failed one is
	// "exit <code> <step>".
	StatusDone    = "exit 0 finish"
	StatusRunning = "running"
)

// File is one file the host needs, as the provider archives it.
type File struct {
	Path    string
	Mode    fs.FileMode
	Content []byte
}

// Files returns the scripts to install: the shell scripts root-only and
// executable, the Ruby scripts readable by all (gitlab-rails drops to git).
func Files() []File {
	read := func(name string) []byte {
		b, err := scripts.ReadFile(name)
		if err != nil {
			panic(err) // embedded at build time: cannot happen
		}
		return b
	}
	return []File{
		{Path: ApplyPath, Mode: 0o700, Content: read("gitlab-kapsule-apply")},
		{Path: BackupPath, Mode: 0o700, Content: read("gitlab-kapsule-backup")},
		{Path: RestorePath, Mode: 0o700, Content: read("gitlab-kapsule-restore")},
		{Path: LibDir + "/set-root-password.rb", Mode: 0o644, Content: read("set-root-password.rb")},
		{Path: LibDir + "/ensure-admin-token.rb", Mode: 0o644, Content: read("ensure-admin-token.rb")},
		{Path: LibDir + "/pending-migrations.rb", Mode: 0o644, Content: read("pending-migrations.rb")},
	}
}

var runIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)

// ValidRunID reports whether id may name a run: [a-z0-9-]{1,40}.
func ValidRunID(id string) bool { return runIDPattern.MatchString(id) }

// PayloadPath is where a run's payload is uploaded (root 0600); apply shreds it once read.
func PayloadPath(runID string) string { return RunDir + "/payload-" + runID + ".env" }

// StatusPath is the file the provider polls: absent or "running", then
// StatusDone or "exit <code> <step>".
func StatusPath(runID string) string { return RunDir + "/" + runID + ".status" }

// LogPath is the run's log; it never holds a secret.
func LogPath(runID string) string { return LogDir + "/apply-" + runID + ".log" }

// ApplyCommand is the second session of a run: apply detached from the
// session (setsid -f), so a dropped SSH connection does not stop it.
func ApplyCommand(runID string) string {
	return "setsid -f " + ApplyPath + " " + PayloadPath(runID) + " " + runID + " </dev/null >/dev/null 2>&1"
}

// Settings is what one run of apply converges the host to. Secrets:
// RootPassword, AdminToken, TLSKey, BackupSecretKey.
type Settings struct {
	// Package is gitlab-ce or gitlab-ee; Version the pinned package version (18.5.2-ce.0).
	Package, Version string
	// DataVolumeID is the Scaleway block volume's id, zoned ("fr-par-1/<uuid>") or not.
	DataVolumeID string
	// GitLabRB is /etc/gitlab/gitlab.rb, whole.
	GitLabRB string
	// RootPassword is the root user's password; AdminToken the automation
	// token's value, expiring on AdminTokenExpiresAt (YYYY-MM-DD).
	RootPassword, AdminToken, AdminTokenExpiresAt string
	// TLSCert and TLSKey are GitLab's certificate and key (PEM), CACert the
	// private CA; all empty without TLS.
	TLSCert, TLSKey, CACert string
	// Backup*: the bucket; BackupBucket empty means no backups. With a bucket
	// and no BackupSchedule (systemd OnCalendar), backups run only before
	// upgrades and on demand.
	BackupBucket, BackupRegion, BackupEndpoint, BackupAccessKey, BackupSecretKey, BackupSchedule string
}

// Payload renders s as the env file apply reads: one KEY='value' line per
// key, single-quoted for bash, file contents base64. It holds secrets.
func Payload(s Settings) []byte {
	b64 := func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }
	var b strings.Builder
	for _, kv := range [][2]string{
		{"GLK_PACKAGE", s.Package},
		{"GLK_VERSION", s.Version},
		{"GLK_DATA_VOLUME_ID", s.DataVolumeID},
		{"GLK_GITLAB_RB_B64", b64(s.GitLabRB)},
		{"GLK_ROOT_PASSWORD", s.RootPassword},
		{"GLK_ADMIN_TOKEN", s.AdminToken},
		{"GLK_ADMIN_TOKEN_EXPIRES_AT", s.AdminTokenExpiresAt},
		{"GLK_TLS_CERT_B64", b64(s.TLSCert)},
		{"GLK_TLS_KEY_B64", b64(s.TLSKey)},
		{"GLK_CA_CERT_B64", b64(s.CACert)},
		{"GLK_BACKUP_BUCKET", s.BackupBucket},
		{"GLK_BACKUP_REGION", s.BackupRegion},
		{"GLK_BACKUP_ENDPOINT", s.BackupEndpoint},
		{"GLK_BACKUP_ACCESS_KEY", s.BackupAccessKey},
		{"GLK_BACKUP_SECRET_KEY", s.BackupSecretKey},
		{"GLK_BACKUP_SCHEDULE", s.BackupSchedule},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return []byte(b.String())
}

// shellQuote quotes v for bash: inside single quotes nothing is special but
// the quote itself, which closes the quotes, is escaped, and reopens them.
func shellQuote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

package config

import "regexp"

// Backup configures GitLab's backups to the stack's Object Storage bucket.
type Backup struct {
	// Enabled makes the bucket and the host's backup timer (backup:enabled);
	// true by default. Off, nothing backs GitLab up: up warns.
	Enabled bool
	// Schedule is when the host backs up, as a systemd OnCalendar expression
	// (backup:schedule), "daily" by default. Upgrades back up first anyway.
	Schedule string
	// RetentionDays is how long a backup is kept, its older versions
	// included, by the bucket's lifecycle rule (backup:retentionDays).
	RetentionDays int
	// AdoptBucket takes over the bucket a destroyed stack of this name left
	// in the project (backup:adoptBucket; disaster recovery), instead of
	// failing to create it; false by default.
	AdoptBucket bool
}

// maxRetentionDays bounds backup:retentionDays (ten years).
const maxRetentionDays = 3650

// calendarSpec is what backup:schedule may hold: the characters of systemd
// calendar expressions (systemd.time(7), "CALENDAR EVENTS"), so the value
// cannot break the timer unit it is written into. The host's systemd judges
// the expression itself; `systemd-analyze calendar '<value>'` shows when it fires.
var calendarSpec = regexp.MustCompile(`^[A-Za-z0-9*:,./~ +-]{1,100}$`)

// checkBackup checks the backup group.
func (c *Config) checkBackup(p *problems) {
	b := &c.Backup
	if !p.read("backup:enabled") || !b.Enabled {
		return
	}
	if p.read("backup:schedule") && !calendarSpec.MatchString(b.Schedule) {
		p.add("backup:schedule %q must be a systemd calendar expression such as \"daily\" or \"*-*-* 03:00:00\" (`systemd-analyze calendar`)", b.Schedule)
	}
	// The host signs its uploads with curl, whose --aws-sigv4 hashes an
	// upload's body only from 7.87.0 on (curl PR #9804, RELEASE-NOTES of
	// 7.87.0); Ubuntu 22.04 ships 7.81.0 and 24.04 8.5.0 (packages.ubuntu.com).
	if c.GitLab.Image == "ubuntu_jammy" && p.read("gitlabHost:image") {
		p.add("gitlabHost:image ubuntu_jammy ships curl 7.81, which cannot sign the backups' uploads: use ubuntu_noble " +
			"(on an existing stack that replaces the host, which keeps its data volume: `up --allow-replace`), or set backup:enabled false")
	}
	if n := b.RetentionDays; p.read("backup:retentionDays") && (n < 1 || n > maxRetentionDays) {
		p.add("backup:retentionDays %d must be from 1 to %d days", n, maxRetentionDays)
	}
}

package hostscripts

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// A fresh host: the volume is formatted and mounted before GitLab is
// installed, the install comes before the reconfigure, and the root
// password and the token are set after it, then the backup timer.
func TestFirstRunConvergesInOrder(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	s := settings(t, h, v1)
	r := h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)

	dev := hostscripts.DevicePrefix + strings.TrimPrefix(h.DataVolumeID(), "fr-par-1/")
	requireOrder(t, r.calls,
		"blkid -p -o value -s TYPE "+dev,
		"mkfs.ext4 -q -L gitlab-data "+dev,
		"mount "+hostscripts.DataMount,
		"mount --bind "+hostscripts.DataMount+"/etc-gitlab /etc/gitlab",
		"mount --bind "+hostscripts.DataMount+"/var-opt-gitlab /var/opt/gitlab",
		"apt-get -o DPkg::Lock::Timeout=600 update",
		"apt-get -o DPkg::Lock::Timeout=600 install -y -q gitlab-ce="+v1,
		"gitlab-ctl reconfigure",
		"gitlab-ctl restart gitlab-kas",
		"gitlab-ctl hup nginx",
		"gitlab-rails runner "+hostscripts.LibDir+"/set-root-password.rb",
		"gitlab-rails runner "+hostscripts.LibDir+"/ensure-admin-token.rb",
		"systemctl daemon-reload",
		"systemctl enable --now gitlab-kapsule-backup.timer",
	)
	assert.Equal(t, 0, count(r.calls, "gitlab-backup create"), "nothing to back up on a fresh host")
	assert.Equal(t, 0, count(r.calls, "apt-get -o DPkg::Lock::Timeout=600 install -y -q gnupg"), "gpg is there: nothing more to install")
	assert.Equal(t, 0, count(r.calls, "resize2fs"), "a new filesystem fills its volume")

	// The data lives on the volume: what /etc/gitlab shows is its etc-gitlab.
	assert.Equal(t, s.GitLabRB, string(h.File(hostscripts.DataMount+"/etc-gitlab/gitlab.rb")))
	assert.NotNil(t, h.File(hostscripts.DataMount+"/var-opt-gitlab/bootstrapped"))
	fstab := string(h.File("/etc/fstab"))
	assert.Regexp(t, `(?m)^UUID=[0-9a-f-]{36} `+hostscripts.DataMount+` ext4 defaults,nofail 0 2$`, fstab)
	assert.Contains(t, fstab, hostscripts.DataMount+"/var-opt-gitlab /var/opt/gitlab none bind,nofail")
	assert.Contains(t, string(h.File("/etc/systemd/system/gitlab-runsvdir.service.d/gitlab-kapsule-data.conf")),
		"RequiresMountsFor=/etc/gitlab /var/opt/gitlab\n", "GitLab's supervisor waits for the data volume at boot")

	for path, want := range map[string]struct {
		mode     fs.FileMode
		uid, gid int
	}{
		"/etc/gitlab/gitlab.rb":                           {0o600, 0, 0},
		"/etc/gitlab/ssl/gitlab-kapsule.crt":              {0o644, 0, 0},
		"/etc/gitlab/ssl/gitlab-kapsule.key":              {0o600, 0, 0},
		"/etc/gitlab/trusted-certs/gitlab-kapsule-ca.crt": {0o644, 0, 0},
		"/etc/gitlab-kapsule/s3.curl":                     {0o600, 0, 0},
		"/etc/gitlab-kapsule/backup.env":                  {0o600, 0, 0},
		hostscripts.LibDir + "/set-root-password.rb":      {0o644, 0, 0},
	} {
		mode, uid, gid, ok := h.Stat(path)
		require.True(t, ok, path)
		assert.Equal(t, want.mode, mode.Perm(), path)
		assert.Equal(t, [2]int{want.uid, want.gid}, [2]int{uid, gid}, path)
	}
	mode, uid, gid, ok := h.Stat("/etc/gitlab/ssl/gitlab-kapsule-kas.key")
	require.True(t, ok)
	assert.Equal(t, fs.FileMode(0o640), mode.Perm(), "KAS runs as git: its copy of the key is root:git 0640")
	assert.Equal(t, 0, uid)
	assert.NotEqual(t, 0, gid, "the KAS key's group is git")
	assert.Equal(t, s.TLSKey, string(h.File("/etc/gitlab/ssl/gitlab-kapsule-kas.key")))

	timer := string(h.File("/etc/systemd/system/gitlab-kapsule-backup.timer"))
	assert.Contains(t, timer, "OnCalendar=daily\n")
	assert.Contains(t, timer, "Persistent=true\n")
	assert.Contains(t, string(h.File("/etc/systemd/system/gitlab-kapsule-backup.service")), "ExecStart="+hostscripts.BackupPath+"\n")

	// The first install seeds root with the payload's password; the token is created.
	assert.Contains(t, h.EnvRecords(), "apt-get GITLAB_ROOT_PASSWORD="+s.RootPassword)
	d := h.db()
	assert.Equal(t, digest(s.RootPassword), d.rootPasswordDigest())
	tk, ok := d.token(s.AdminToken)
	require.True(t, ok, "no token with the payload's value")
	assert.Equal(t, token{Name: hostscripts.TokenName, Scopes: []string{"api"}, ExpiresAt: s.AdminTokenExpiresAt, TokenDigest: digest(s.AdminToken)}, tk)

	assert.Nil(t, h.File(hostscripts.PayloadPath(r.runID)), "the payload is shredded")
	for _, line := range strings.Split(strings.TrimSpace(r.log), "\n") {
		assert.True(t, strings.HasPrefix(line, "gitlab-kapsule-apply: "), "log line %q", line)
	}
	assert.Contains(t, r.log, "gitlab-kapsule-apply: finish: GitLab "+v1+" is configured")
}

// The same payload again changes nothing that matters: no install, no
// format, no migration, no mount, and fstab keeps one line each.
func TestSecondRunWithTheSamePayloadIsANoOp(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	s := settings(t, h, v1)
	require.Equal(t, hostscripts.StatusDone, h.apply(s).status)
	fstab := string(h.File("/etc/fstab"))

	r := h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)
	for _, never := range []string{"apt-get", "mkfs.ext4", "mount", "resize2fs", "gitlab-ctl stop", "gitlab-backup", "gitlab-ctl restart gitlab-kas", "curl"} {
		assert.Equal(t, 0, count(r.calls, never), "second run called %q:\n%s", never, strings.Join(r.calls, "\n"))
	}
	assert.Equal(t, fstab, string(h.File("/etc/fstab")))
	assert.Contains(t, r.log, "gitlab-ce "+v1+" already installed")
	assert.Contains(t, r.log, "root password: unchanged")
	assert.Contains(t, r.log, "admin token: unchanged")
}

// A version change waits for the running version's background
// migrations, takes a full backup, uploads both archives, and only then
// installs; Omnibus's own database backup is skipped for that one install,
// and the skip file does not stay.
func TestUpgradeBacksUpToTheBucketBeforeInstalling(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v1)).status)
	// One batched migration still runs; it is done at the next check.
	out, code := h.run(`ruby -rjson -e 'f = "/var/opt/gitlab/standin-db.json"; d = JSON.parse(File.read(f)); d["pending_migrations"] = 1; File.write(f, JSON.generate(d))'`)
	require.Equal(t, 0, code, out)

	r := h.apply(settings(t, h, v2))
	require.Equal(t, hostscripts.StatusDone, r.status)
	assert.Contains(t, r.log, "backup_before_upgrade: 1 background migrations pending: waiting before the upgrade")
	assert.Contains(t, r.log, "backup_before_upgrade: no background migrations pending")
	requireOrder(t, r.calls,
		"gitlab-rails runner "+hostscripts.LibDir+"/pending-migrations.rb",
		"gitlab-rails runner "+hostscripts.LibDir+"/pending-migrations.rb",
		"gitlab-backup create STRATEGY=copy CRON=1",
		"gitlab-ctl backup-etc --no-delete-old-backups -p /var/opt/gitlab/gitlab-kapsule-backup.",
		`~^curl .*--aws-sigv4 aws:amz:`+harness.S3Region+`:s3 -K /etc/gitlab-kapsule/s3.curl -H x-amz-content-sha256: [0-9a-f]{64} -o /dev/null -T /var/opt/gitlab/gitlab-kapsule-backup\.\w+/gitlab_config_\S+\.tar https://\S+_gitlab_etc\.tar$`,
		`~^curl .* -T /var/opt/gitlab/backups/\S+_gitlab_backup\.tar https://\S+/backups/\S+_gitlab_backup\.tar$`,
		"apt-get -o DPkg::Lock::Timeout=600 install -y -q gitlab-ce="+v2,
		"gitlab-ctl reconfigure",
	)
	assert.Equal(t, 0, count(r.calls, "gitlab-rake gitlab:backup:create"), "Omnibus's pre-upgrade backup is skipped after ours")
	assert.Nil(t, h.File("/etc/gitlab/skip-auto-backup"))
	assert.Empty(t, h.S3Refused(), "every request is signed with the bucket's key")

	keys := h.S3Keys()
	require.Len(t, keys, 2, "%v", keys)
	id := strings.TrimSuffix(strings.TrimPrefix(keys[0], "backups/"), "_gitlab_backup.tar")
	assert.Equal(t, []string{"backups/" + id + "_gitlab_backup.tar", "backups/" + id + "_gitlab_etc.tar"}, keys)
	assert.True(t, strings.HasSuffix(id, "_"+gitlabV1), "the backup was made by the old version: %s", id)
	assert.Contains(t, r.log, "backup "+id+" uploaded")
	assert.NotEmpty(t, h.S3Object("backups/"+id+"_gitlab_etc.tar"))
	assert.Nil(t, h.File("/var/opt/gitlab/backups/"+id+"_gitlab_backup.tar"), "the local copy is removed once uploaded")
	assert.Equal(t, v2+"\n", string(h.File("/var/lib/glk-standin/dpkg/gitlab-ce")))
}

// A failed batched migration will never finish: the upgrade stops at once,
// naming it, before any backup or install (GitLab docs
// doc/update/background_migrations.md: every one finished first).
func TestUpgradeStopsOnAFailedBackgroundMigration(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v1)).status)
	out, code := h.run(`ruby -rjson -e 'f = "/var/opt/gitlab/standin-db.json"; d = JSON.parse(File.read(f)); d["failed_migrations"] = [{"job" => "BackfillThing", "table" => "projects"}]; File.write(f, JSON.generate(d))'`)
	require.Equal(t, 0, code, out)

	r := h.apply(settings(t, h, v2))
	assert.Equal(t, "exit 1 backup_before_upgrade", r.status)
	assert.Contains(t, r.log, "failed background migrations: 1 (BackfillThing on projects): retry or fix them before the upgrade")
	assert.Equal(t, 1, count(r.calls, "gitlab-rails runner "+hostscripts.LibDir+"/pending-migrations.rb"), "no waiting for one that will never finish")
	assert.Equal(t, 0, count(r.calls, "gitlab-backup create"))
	assert.Equal(t, 0, count(r.calls, "apt-get -o DPkg::Lock::Timeout=600 install"))
	assert.Equal(t, v1+"\n", string(h.File("/var/lib/glk-standin/dpkg/gitlab-ce")), "the old version stays")
}

// Without a bucket an upgrade says clearly that no full backup is taken,
// and Omnibus's own database backup is the one left.
func TestUpgradeWithoutBucketWarnsAndKeepsOmnibusBackup(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	s := settings(t, h, v1)
	s.BackupBucket, s.BackupSchedule = "", ""
	require.Equal(t, hostscripts.StatusDone, h.apply(s).status)
	s.Version = v2
	r := h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)
	assert.Contains(t, r.log, "gitlab-kapsule-apply: backup_before_upgrade: WARNING: upgrading "+v1+" to "+v2+" with no backup bucket")
	assert.Equal(t, 0, count(r.calls, "gitlab-backup create"))
	assert.Equal(t, 0, count(r.calls, "curl"))
	requireOrder(t, r.calls, "apt-get -o DPkg::Lock::Timeout=600 install -y -q gitlab-ce="+v2, "gitlab-rake gitlab:backup:create SKIP=")
	assert.Empty(t, h.S3Keys())
	assert.Nil(t, h.File("/etc/systemd/system/gitlab-kapsule-backup.timer"))
	assert.Nil(t, h.File("/etc/gitlab-kapsule/s3.curl"))
}

// Removing the bucket removes the timer and the credentials.
func TestNoBucketRemovesTimerAndCredentials(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	s := settings(t, h, v1)
	require.Equal(t, hostscripts.StatusDone, h.apply(s).status)
	require.NotNil(t, h.File("/etc/gitlab-kapsule/s3.curl"))
	s.BackupBucket, s.BackupSchedule = "", ""
	r := h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)
	requireOrder(t, r.calls, "systemctl disable --now gitlab-kapsule-backup.timer", "systemctl daemon-reload")
	for _, p := range []string{"/etc/systemd/system/gitlab-kapsule-backup.timer", "/etc/systemd/system/gitlab-kapsule-backup.service", "/etc/gitlab-kapsule/s3.curl", "/etc/gitlab-kapsule/backup.env"} {
		assert.Nil(t, h.File(p), p)
	}
}

// A downgrade is refused before anything is installed, and the status names the step.
func TestDowngradeIsRefused(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v2)).status)
	r := h.apply(settings(t, h, v1))
	assert.Equal(t, "exit 1 backup_before_upgrade", r.status)
	assert.Contains(t, r.log, "GitLab does not downgrade")
	assert.Equal(t, 0, count(r.calls, "apt-get -o DPkg::Lock::Timeout=600 install"))
}

// A failing step is named in the status and the log, and the payload is gone all the same.
func TestFailureNamesTheStep(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	s := settings(t, h, v1)
	s.BackupSchedule = "every blue moon"
	r := h.apply(s)
	assert.Equal(t, "exit 1 backup_timer", r.status)
	assert.Contains(t, r.log, "gitlab-kapsule-apply: backup_timer: backup schedule 'every blue moon' is not a systemd OnCalendar expression")
	assert.Contains(t, r.log, "gitlab-kapsule-apply: backup_timer: FAILED (exit 1)")
	assert.Nil(t, h.File(hostscripts.PayloadPath(r.runID)))

	s.Version = "18.5"
	r = h.apply(s)
	assert.Equal(t, "exit 65 payload", r.status)
	assert.Equal(t, 0, count(r.calls, "mount"), "nothing runs after a bad payload")
}

// Rotation: a new root password and a new token (with a new expiry) take
// effect, the old token is revoked, and no secret appears in a log, on a
// command line, or in a file that anyone but root can read.
func TestRotationTakesEffectAndLeaksNothing(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	s1 := settings(t, h, v1)
	require.Equal(t, hostscripts.StatusDone, h.apply(s1).status)
	s2 := s1
	s2.RootPassword = "new root pw " + randomHex(t)
	s2.AdminToken = "glpat-" + randomHex(t)
	s2.AdminTokenExpiresAt = "2027-06-30"
	s2.TLSCert, s2.TLSKey, s2.CACert = tlsFiles(t)
	r := h.apply(s2)
	require.Equal(t, hostscripts.StatusDone, r.status)

	env := h.EnvRecords()
	assert.Contains(t, env, "gitlab-rails GLK_ROOT_PASSWORD="+s2.RootPassword)
	assert.Contains(t, env, "gitlab-rails GLK_ADMIN_TOKEN="+s2.AdminToken)
	d := h.db()
	assert.Equal(t, digest(s2.RootPassword), d.rootPasswordDigest())
	old, ok := d.token(s1.AdminToken)
	require.True(t, ok)
	assert.True(t, old.Revoked, "the old token is revoked")
	cur, ok := d.token(s2.AdminToken)
	require.True(t, ok)
	assert.False(t, cur.Revoked)
	assert.Equal(t, "2027-06-30", cur.ExpiresAt)
	assert.Contains(t, r.log, "root password: set")
	assert.Contains(t, r.log, "admin token: revoked 1 older automation token(s)")
	requireOrder(t, r.calls, "gitlab-ctl reconfigure", "gitlab-ctl restart gitlab-kas", "gitlab-ctl hup nginx")

	// The expiry alone changes: same token, updated.
	s3 := s2
	s3.AdminTokenExpiresAt = "2027-07-31"
	r = h.apply(s3)
	require.Equal(t, hostscripts.StatusDone, r.status)
	assert.Contains(t, r.log, "admin token: updated, expires 2027-07-31")
	cur, _ = h.db().token(s2.AdminToken)
	assert.Equal(t, "2027-07-31", cur.ExpiresAt)

	// Backups read the key pair from the curl config, never from a command line.
	out, code := h.run(hostscripts.BackupPath)
	require.Equal(t, 0, code, out)

	secrets := map[string]string{
		"root password 1": s1.RootPassword, "root password 2": s2.RootPassword,
		"token 1": s1.AdminToken, "token 2": s2.AdminToken,
		"bucket secret key": harness.S3SecretKey,
	}
	keys := map[string]string{"TLS key 1": s1.TLSKey, "TLS key 2": s2.TLSKey}
	cmdlines := h.CommandLines()
	require.True(t, slices.ContainsFunc(cmdlines, func(l string) bool {
		return strings.Contains(l, hostscripts.ApplyPath+" "+hostscripts.PayloadPath("run-2")+" run-2")
	}), "the snapshots show the scripts' own processes")
	for name, v := range secrets {
		for _, line := range cmdlines {
			require.NotContains(t, line, v, "%s on a command line", name)
		}
		for _, line := range h.Calls() {
			require.NotContains(t, line, v, "%s in a stand-in's arguments", name)
		}
	}
	for runID := 1; runID <= 3; runID++ {
		log := string(h.File(hostscripts.LogPath("run-" + string(rune('0'+runID)))))
		require.NotEmpty(t, log)
		for name, v := range secrets {
			require.NotContains(t, log, v, "%s in the apply log", name)
		}
		for name, v := range keys {
			require.NotContains(t, log, v, "%s in the apply log", name)
		}
	}
	// Files holding a secret are root's and 0600; the TLS key's one other
	// copy is KAS's, root:git 0640 (KAS runs as git).
	for _, root := range []string{"/etc/gitlab", "/etc/gitlab-kapsule", "/etc/systemd/system", "/var/opt/gitlab", "/var/log/gitlab-kapsule", "/run", "/tmp", "/root", "/usr/local", "/opt/gitlab", "/mnt", "/var/lib/glk-standin"} {
		h.Walk(root, func(path string, mode fs.FileMode, uid, gid int, content []byte) {
			for name, v := range secrets {
				if strings.Contains(string(content), v) {
					assert.True(t, mode.Perm() == 0o600 && uid == 0, "%s in %s (%o, uid %d)", name, path, mode.Perm(), uid)
				}
			}
			for name, v := range keys {
				if strings.Contains(string(content), v) {
					// The same file, as /etc/gitlab shows it and on the volume.
					kas := path == "/etc/gitlab/ssl/gitlab-kapsule-kas.key" || strings.HasSuffix(path, "/etc-gitlab/ssl/gitlab-kapsule-kas.key")
					assert.True(t, uid == 0 && (mode.Perm() == 0o600 || kas && mode.Perm() == 0o640), "%s in %s (%o, uid %d)", name, path, mode.Perm(), uid)
				}
			}
		})
	}
}

// A host made before the data volume existed (GitLab's data on the root
// volume) moves onto the new volume once, with GitLab stopped; the token
// bootstrap.sh made is revoked for the new one.
func TestExistingHostMigratesToTheVolumeOnce(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	h.SetInstalledVersion(v1)
	secretsJSON := h.File("/etc/gitlab/gitlab-secrets.json")
	require.NotEmpty(t, secretsJSON)

	s := settings(t, h, v1)
	r := h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)
	requireOrder(t, r.calls,
		"mkfs.ext4",
		"mount "+hostscripts.DataMount,
		"gitlab-ctl stop",
		"mount --bind "+hostscripts.DataMount+"/etc-gitlab /etc/gitlab",
		"mount --bind "+hostscripts.DataMount+"/var-opt-gitlab /var/opt/gitlab",
		"gitlab-ctl start",
		"gitlab-ctl reconfigure",
	)
	assert.Equal(t, 0, count(r.calls, "apt-get -o DPkg::Lock::Timeout=600 install"), "the same version is installed")
	assert.Contains(t, r.log, "GitLab data found on the root volume: migrating it to the data volume")
	assert.Equal(t, secretsJSON, h.File(hostscripts.DataMount+"/etc-gitlab/gitlab-secrets.json"), "the secrets moved with the data")
	assert.Equal(t, secretsJSON, h.File("/etc/gitlab/gitlab-secrets.json"))
	assert.NotNil(t, h.File(hostscripts.DataMount+"/var-opt-gitlab/standin-db.json"))
	d := h.db()
	assert.Equal(t, digest(s.RootPassword), d.rootPasswordDigest(), "the root password is set on the migrated data")
	legacy, ok := d.token("legacy-automation-token")
	require.True(t, ok)
	assert.True(t, legacy.Revoked, "bootstrap.sh's token is revoked")

	r = h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)
	assert.Equal(t, 0, count(r.calls, "gitlab-ctl stop"))
	assert.Equal(t, 0, count(r.calls, "mkfs.ext4"))
	assert.NotContains(t, r.log, "migrating")
}

// Switching from CE to EE at the same version is treated as an upgrade:
// backup first, then the other package, which replaces the first.
func TestEditionChangeBacksUpFirst(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v1)).status)
	s := settings(t, h, "18.4.3-ee.0")
	s.Package = "gitlab-ee"
	r := h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)
	assert.Contains(t, r.log, "gitlab-ce "+v1+" is installed: switching to gitlab-ee")
	requireOrder(t, r.calls, "gitlab-backup create STRATEGY=copy CRON=1", "apt-get -o DPkg::Lock::Timeout=600 install -y -q gitlab-ee=18.4.3-ee.0")
	assert.Nil(t, h.File("/var/lib/glk-standin/dpkg/gitlab-ce"))
	assert.Equal(t, "18.4.3-ee.0\n", string(h.File("/var/lib/glk-standin/dpkg/gitlab-ee")))
}

package hostscripts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// --list prints the complete backups' IDs, oldest first, across pages of
// ListObjectsV2 (1000 keys a page), and nothing else in the bucket.
func TestBackupListsIDsOldestFirst(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v1)).status)
	out, code := h.run(hostscripts.BackupPath + " --list")
	require.Equal(t, 0, code, out)
	assert.Empty(t, strings.TrimSpace(out), "an empty bucket lists nothing")

	id := h.backup()
	require.Regexp(t, `^\d+_\d{4}_\d{2}_\d{2}_`+gitlabV1+`$`, id, "backup prints its ID alone on stdout")

	// Older backups, one of them with a much smaller epoch (sorted as a
	// number, not as text), 1100 of them to need a second page, and keys
	// that are no backup archive.
	var want []string
	h.PutS3Object("backups/999_2001_09_09_18.4.3_gitlab_backup.tar", []byte("x"))
	want = append(want, "999_2001_09_09_18.4.3")
	for i := range 1100 {
		old := fmt.Sprintf("%d_2024_01_01_18.4.3", 1700000000+i)
		h.PutS3Object("backups/"+old+"_gitlab_backup.tar", []byte("x"))
		h.PutS3Object("backups/"+old+"_gitlab_etc.tar", []byte("x"))
		want = append(want, old)
	}
	h.PutS3Object("backups/notes.txt", []byte("x"))
	h.PutS3Object("elsewhere/1800000000_2027_01_01_18.4.3_gitlab_backup.tar", []byte("x"))
	want = append(want, id)

	out, code = h.run(hostscripts.BackupPath + " --list")
	require.Equal(t, 0, code, out)
	assert.Equal(t, want, strings.Split(strings.TrimSpace(out), "\n"))
	assert.GreaterOrEqual(t, count(h.S3Requests(), "GET /"+harness.S3Bucket+"/"), 2, "the listing took more than one page")
	assert.Empty(t, h.S3Refused())
}

// The S3 stand-in refuses a request signed with another secret key, so the
// signature checks above can fail.
func TestBackupWithAWrongKeyIsRefused(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	s := settings(t, h, v1)
	s.BackupSecretKey = "not-the-bucket-key"
	require.Equal(t, hostscripts.StatusDone, h.apply(s).status)
	out, code := h.run(hostscripts.BackupPath)
	assert.NotEqual(t, 0, code, out)
	assert.Contains(t, out, "403")
	require.NotEmpty(t, h.S3Refused())
	assert.Contains(t, h.S3Refused()[0], "signature does not match")
	assert.Empty(t, h.S3Keys())
}

// restore ID downloads both archives, puts the secrets back and
// reconfigures, stops puma and sidekiq, restores, reconfigures, restarts
// and checks, in GitLab's documented order; gitlab.rb stays the program's.
func TestRestoreFollowsGitLabsOrder(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	s1 := settings(t, h, v1)
	require.Equal(t, hostscripts.StatusDone, h.apply(s1).status)
	secretsJSON := h.File("/etc/gitlab/gitlab-secrets.json")
	id := h.backup()

	// Later: the password changed, the secrets file was lost.
	s2 := s1
	s2.RootPassword = "changed after the backup " + randomHex(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(s2).status)
	require.Equal(t, digest(s2.RootPassword), h.db().rootPasswordDigest())
	_, code := h.run(`echo '{"lost":true}' > /etc/gitlab/gitlab-secrets.json`)
	require.Equal(t, 0, code)
	gitlabRB := h.File("/etc/gitlab/gitlab.rb")

	before := len(h.Calls())
	out, code := h.run(hostscripts.RestorePath + " " + id)
	require.Equal(t, 0, code, out)
	calls := h.Calls()[before:]
	requireOrder(t, calls,
		"~^curl .* https://\\S+/backups/"+id+"_gitlab_etc\\.tar$",
		"~^curl .* https://\\S+/backups/"+id+"_gitlab_backup\\.tar$",
		"gitlab-ctl reconfigure",
		"gitlab-ctl stop puma",
		"gitlab-ctl stop sidekiq",
		"gitlab-backup restore BACKUP="+id+" force=yes",
		"gitlab-ctl reconfigure",
		"gitlab-ctl restart",
		"gitlab-rake gitlab:check SANITIZE=true",
		"gitlab-rake gitlab:doctor:secrets",
	)
	assert.Equal(t, secretsJSON, h.File("/etc/gitlab/gitlab-secrets.json"), "gitlab-secrets.json is the backup's")
	mode, uid, _, _ := h.Stat("/etc/gitlab/gitlab-secrets.json")
	assert.Equal(t, "600 0", fmt.Sprintf("%o %d", mode.Perm(), uid))
	assert.Equal(t, gitlabRB, h.File("/etc/gitlab/gitlab.rb"), "gitlab.rb stays as apply wrote it")
	assert.Equal(t, digest(s1.RootPassword), h.db().rootPasswordDigest(), "the database is the backup's")
	assert.Nil(t, h.File("/var/opt/gitlab/backups/"+id+"_gitlab_backup.tar"), "the downloaded archive is removed")
	assert.Contains(t, out, "gitlab-kapsule-restore: backup "+id+" restored")
	assert.Contains(t, out, "gitlab-kapsule-restore: gitlab:doctor:secrets: every encrypted value in the database can be decrypted (0 rows affected)")
	assert.Regexp(t, `gitlab-kapsule-restore: free space: [0-9.]+ GB in /var/opt/gitlab/backups, about [0-9.]+ GB needed`, out)
}

// A backup from another GitLab version is refused before anything stops,
// naming the version to install.
func TestRestoreRefusesAnotherVersion(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v1)).status)
	id := h.backup()
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v2)).status)

	before := len(h.Calls())
	out, code := h.run(hostscripts.RestorePath + " " + id)
	assert.Equal(t, 3, code, out)
	assert.Contains(t, out, "backup "+id+" was made by GitLab "+gitlabV1+", this host runs 18.5.2")
	assert.Contains(t, out, "Set gitlabHost:version to "+v1)
	calls := h.Calls()[before:]
	for _, never := range []string{"gitlab-ctl", "gitlab-backup restore"} {
		assert.Equal(t, 0, count(calls, never), "%q after a refused restore", never)
	}
	assert.Nil(t, h.File("/var/opt/gitlab/backups/"+id+"_gitlab_backup.tar"))

	out, code = h.run(hostscripts.RestorePath + " '../../etc/passwd'")
	assert.Equal(t, 64, code, out)
}

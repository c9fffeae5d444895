package hostscripts

import (
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/cloudinit"
	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDisasterRecoveryFromTheBucketAlone is README's disaster recovery on
// two hosts: the first one's data volume and host are lost; what is left is
// its bucket and the stack's settings and secrets. A second, empty host gets
// the objects (its own S3 stand-in, given only what the first one uploaded),
// is configured with the same settings (GitLabConfigured on the new stack's
// first up), restores the backup (`restore ID`) and is configured again
// (`up --reconfigure`): it ends with the first host's repositories and
// gitlab-secrets.json, and the stack's own root password and token work.
func TestDisasterRecoveryFromTheBucketAlone(t *testing.T) {
	t.Parallel()
	lost := startHost(t)
	s := settings(t, lost, v1)
	require.Equal(t, hostscripts.StatusDone, lost.apply(s).status)
	_, code := lost.run("mkdir -p /var/opt/gitlab/git-data/repositories/root/app.git && echo 'ref: refs/heads/main' > /var/opt/gitlab/git-data/repositories/root/app.git/HEAD")
	require.Equal(t, 0, code)
	secretsJSON := lost.File("/etc/gitlab/gitlab-secrets.json")
	require.NotNil(t, secretsJSON)
	id, log, code := backup(t, lost, "")
	require.Equal(t, 0, code, log)

	// Nothing but the bucket survives.
	fresh := startHost(t)
	var keys []string
	for _, k := range lost.S3Keys() {
		if strings.HasPrefix(k, "backups/") {
			fresh.PutS3Object(k, lost.S3Object(k))
			keys = append(keys, k)
		}
	}
	require.ElementsMatch(t, []string{"backups/" + id + "_gitlab_backup.tar", "backups/" + id + "_gitlab_etc.tar"}, keys)

	// The new stack's first up: the same settings, and the stack's secrets
	// as they are now (rotated since the backup), on the new host's volume
	// and bucket endpoint.
	s2 := s
	s2.DataVolumeID, s2.BackupEndpoint = fresh.DataVolumeID(), fresh.S3Endpoint()
	s2.RootPassword, s2.AdminToken = "rotated since the backup "+randomHex(t), "glpat-"+randomHex(t)
	require.Equal(t, hostscripts.StatusDone, fresh.apply(s2).status)
	assert.Nil(t, fresh.File("/var/opt/gitlab/git-data/repositories/root/app.git/HEAD"), "an empty GitLab before the restore")
	assert.NotEqual(t, secretsJSON, fresh.File("/etc/gitlab/gitlab-secrets.json"), "a new GitLab has its own secrets")

	listed, code := fresh.run(hostscripts.BackupPath + " --list 2>/dev/null")
	require.Equal(t, 0, code, listed)
	assert.Equal(t, id, strings.TrimSpace(listed), "the new host lists the old host's backup")

	out, code := fresh.run(hostscripts.RestorePath + " " + id)
	require.Equal(t, 0, code, out)
	assert.Equal(t, secretsJSON, fresh.File("/etc/gitlab/gitlab-secrets.json"), "the old GitLab's secrets, so its encrypted data decrypts")
	assert.Equal(t, "ref: refs/heads/main\n", string(fresh.File("/var/opt/gitlab/git-data/repositories/root/app.git/HEAD")), "the old repositories")
	assert.Equal(t, digest(s.RootPassword), fresh.db().rootPasswordDigest(), "the restored database holds the backup's password")
	_, found := fresh.db().token(s2.AdminToken)
	assert.False(t, found, "and not the stack's current token: hence up --reconfigure")

	// up --reconfigure: the stack's password and token hold again.
	require.Equal(t, hostscripts.StatusDone, fresh.apply(s2).status)
	assert.Equal(t, digest(s2.RootPassword), fresh.db().rootPasswordDigest())
	tok, ok := fresh.db().token(s2.AdminToken)
	require.True(t, ok, "the stack's automation token exists")
	assert.Equal(t, s2.AdminTokenExpiresAt, tok.ExpiresAt)
	assert.False(t, tok.Revoked)
}

// TestReplacedHostKeepsTheUsersIDs: the data volume's files belong to the
// numeric ids GitLab's users got at the first install. A replaced host's
// image may hand out other ids (here: the first host had a system user at
// 999, so git got 998; the new one has not, so git would get 999 and own
// nothing on the volume). The ids recorded on the volume make the new host
// create git with the old id; without the record it would not.
func TestReplacedHostKeepsTheUsersIDs(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	// A system user of the first image takes the next free system id
	// (what the stand-in, like useradd --system, would give git).
	early, code := h.run(`id=999; while getent passwd $id >/dev/null || getent group $id >/dev/null; do id=$((id - 1)); done
		echo "early:x:$id:" >>/etc/group && echo "early:x:$id:$id::/:/usr/sbin/nologin" >>/etc/passwd && echo $id`)
	require.Equal(t, 0, code, early)
	early = strings.TrimSpace(early)
	s := settings(t, h, v1)
	require.Equal(t, hostscripts.StatusDone, h.apply(s).status)
	gitID := func() string {
		out, code := h.run("id -u git")
		require.Equal(t, 0, code, out)
		return strings.TrimSpace(out)
	}
	first := gitID()
	require.NotEqual(t, early, first)
	ids := string(h.File(cloudinit.UserIDsPath))
	assert.Contains(t, ids, "user['uid'] = "+first+"\nuser['gid'] = "+first+"\n")

	// A new root volume from a new image: no git, no early; the data volume stays.
	// Rewritten in place: /etc/passwd may be a file bound into the sandbox,
	// which sed -i's rename would not replace.
	newRoot := `for f in /etc/passwd /etc/group; do grep -v -e '^git:' -e '^early:' "$f" >/tmp/glk-users; cat /tmp/glk-users >"$f"; done`
	_, code = h.run(newRoot)
	require.Equal(t, 0, code)
	require.Equal(t, hostscripts.StatusDone, h.apply(s).status)
	assert.Equal(t, first, gitID(), "git gets the id the volume's files belong to")
	assert.Equal(t, ids, string(h.File(cloudinit.UserIDsPath)), "recorded once, never rewritten")

	// Control: without the record, the new host's git takes another id and
	// no longer owns its files: the run breaks where GitLab reads them as git.
	_, code = h.run(newRoot + " && rm " + cloudinit.UserIDsPath)
	require.Equal(t, 0, code)
	assert.NotEqual(t, hostscripts.StatusDone, h.apply(s).status, "git cannot read what the old git owns")
	assert.Equal(t, early, gitID(), "the stand-in allocates as Omnibus does: the next free system id")
}

package hostscripts

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

const (
	mib = 1 << 20
	// repoFile is a repository's pack: GitLab data that gitlab-backup archives.
	repoFile = "/var/opt/gitlab/git-data/repositories/@hashed/6b/86/6b86b273.git/objects/pack/pack-1.pack"
)

// writeRandom fills path on the host with size random bytes, owned by git.
func writeRandom(t *testing.T, h *host, path string, size int) {
	t.Helper()
	out, code := h.run(fmt.Sprintf("install -d -o git -g git %q && head -c %d /dev/urandom >%q && chown git:git %q", path[:strings.LastIndex(path, "/")], size, path, path))
	require.Equal(t, 0, code, out)
}

// backup runs gitlab-kapsule-backup with env, returning the ID it printed
// (stdout), its log (stderr) and its exit status.
func backup(t *testing.T, h *host, env string) (id, log string, code int) {
	t.Helper()
	id, code = h.run(env + " " + hostscripts.BackupPath + " 2>/root/backup.log")
	log, _ = h.run("cat /root/backup.log")
	t.Logf("backup %s: exit %d\n%s", env, code, log)
	return strings.TrimSpace(id), log, code
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// madeArchive is the SHA256 of the archive the stand-in gitlab-backup made for id.
func madeArchive(t *testing.T, h *host, id string) string {
	t.Helper()
	for _, line := range h.Archives() {
		if got, digest, _ := strings.Cut(line, " "); got == id {
			return digest
		}
	}
	t.Fatalf("gitlab-backup made no archive %s: %q", id, h.Archives())
	return ""
}

// An archive over the multipart threshold goes up in parts: CreateMultipartUpload,
// 5 MiB parts (the last smaller), CompleteMultipartUpload, each request signed
// with its query; the object is the archive, byte for byte, and restores. Under
// the threshold, one PUT. The S3 stand-in refuses parts under 5 MiB but the
// last, and a single PUT over 5 GB, as Object Storage does.
func TestLargeBackupGoesUpInParts(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v1)).status)
	writeRandom(t, h, repoFile, 12*mib)
	packed := h.File(repoFile)

	before := len(h.S3Requests())
	id, log, code := backup(t, h, fmt.Sprintf("GLK_MULTIPART_THRESHOLD=%d", mib))
	require.Equal(t, 0, code, log)
	key := "/" + harness.S3Bucket + "/backups/" + id + "_gitlab_backup.tar"
	reqs := h.S3Requests()[before:]
	requireOrder(t, reqs,
		"PUT /"+harness.S3Bucket+"/backups/"+id+"_gitlab_etc.tar", // small: one PUT
		"POST "+key+"?uploads=",
		"PUT "+key+"?partNumber=1&uploadId=",
		"PUT "+key+"?partNumber=2&uploadId=",
		"PUT "+key+"?partNumber=3&uploadId=",
		"POST "+key+"?uploadId=",
	)
	assert.Equal(t, 3, count(reqs, "PUT "+key+"?partNumber="), "12 MiB and a little: two 5 MiB parts and the rest")
	assert.NotContains(t, reqs, "PUT "+key, "no single PUT of the archive")
	assert.Contains(t, log, "in 3 parts of 5242880 bytes")
	assert.Empty(t, h.S3Refused(), "every request, query included, is signed right and within Object Storage's limits")
	object := h.S3Object("backups/" + id + "_gitlab_backup.tar")
	assert.Greater(t, len(object), 12*mib)
	assert.Equal(t, madeArchive(t, h, id), sha(object), "the object is the archive gitlab-backup made, whole")
	assert.Nil(t, h.File("/var/opt/gitlab/backups/"+id+"_gitlab_backup.tar"))

	// Under the threshold (the default, 100 MiB): one PUT.
	before = len(h.S3Requests())
	id2, log, code := backup(t, h, "")
	require.Equal(t, 0, code, log)
	reqs = h.S3Requests()[before:]
	key2 := "/" + harness.S3Bucket + "/backups/" + id2 + "_gitlab_backup.tar"
	assert.Contains(t, reqs, "PUT "+key2)
	assert.Equal(t, 0, count(reqs, "POST "), "no multipart upload: %q", reqs)
	assert.Equal(t, madeArchive(t, h, id2), sha(h.S3Object("backups/"+id2+"_gitlab_backup.tar")))

	// The parted backup restores: the repository comes back as it was.
	writeRandom(t, h, repoFile, mib)
	out, code := h.run(hostscripts.RestorePath + " " + id)
	require.Equal(t, 0, code, out)
	assert.Equal(t, sha(packed), sha(h.File(repoFile)), "the repository is the backup's")
}

// What the S3 stand-in refuses, so that the test above can fail: a query
// other than the one signed, a part under 5 MiB that is not the last, and
// part number 1001.
func TestS3StandInRefusesWhatObjectStorageRefuses(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v1)).status)
	base := "https://" + h.S3Endpoint() + "/" + harness.S3Bucket
	empty := sha(nil)
	s3 := "curl -sS --aws-sigv4 aws:amz:" + harness.S3Region + ":s3 -K /etc/gitlab-kapsule/s3.curl"

	// curl signs the URL's query; --request-target sends another one.
	out, code := h.run(s3 + " -H 'x-amz-content-sha256: " + empty + "' -o /dev/null -w '%{http_code}' --request-target '/" + harness.S3Bucket + "/?list-type=2&prefix=b' '" + base + "/?list-type=2&prefix=a'")
	require.Equal(t, 0, code, out)
	assert.Equal(t, "403", out)
	require.NotEmpty(t, h.S3Refused())
	assert.Contains(t, h.S3Refused()[0], "signature does not match")

	// Two 1 MiB parts, then part 1001.
	script := `set -eu
s3() { ` + s3 + ` "$@"; }
url=` + base + `/probe.bin
head -c 1048576 /dev/urandom >/root/part
sum=$(sha256sum /root/part | cut -d ' ' -f 1)
id=$(s3 -H "x-amz-content-sha256: ` + empty + `" -X POST "$url?uploads=" | grep -o '<UploadId>[^<]*' | cut -d '>' -f 2)
xml='<CompleteMultipartUpload>'
for n in 1 2; do
	etag=$(s3 -H "x-amz-content-sha256: $sum" -D - -o /dev/null -T /root/part "$url?partNumber=$n&uploadId=$id" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tr -d '\r')
	xml="$xml<Part><PartNumber>$n</PartNumber><ETag>$etag</ETag></Part>"
done
xml="$xml</CompleteMultipartUpload>"
printf '%s' "$xml" >/root/complete.xml
s3 -H "x-amz-content-sha256: $(sha256sum /root/complete.xml | cut -d ' ' -f 1)" -X POST --data-binary @/root/complete.xml "$url?uploadId=$id"
echo
s3 -H "x-amz-content-sha256: $sum" -o /dev/null -w '%{http_code}\n' -T /root/part "$url?partNumber=1001&uploadId=$id"
`
	out, code = h.run(script)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "<Code>EntityTooSmall</Code>")
	assert.Contains(t, out, "400")
	refused := strings.Join(h.S3Refused(), "\n")
	assert.Contains(t, refused, "part 1 is 1048576 bytes, under 5 MiB, and not the last")
	assert.Contains(t, refused, "part number 1001 is not 1 to 1000")
	assert.Nil(t, h.S3Object("probe.bin"), "nothing was assembled")
}

// Backups and restores check the data volume's free space first and
// refuse, naming gitlabHost:dataVolumeSizeGb; once the volume grows, apply
// rescans the disk and grows the filesystem online, once, and the backup
// goes through.
func TestSpaceIsCheckedAndAGrownVolumeIsResizedOnce(t *testing.T) {
	t.Parallel()
	h := startHost(t, harness.WithDataVolumeSize(64*mib))
	s := settings(t, h, v1)
	r := h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)
	dev := hostscripts.DevicePrefix + strings.TrimPrefix(h.DataVolumeID(), "fr-par-1/")
	requireOrder(t, r.calls, "mkfs.ext4", "mount "+hostscripts.DataMount, "blockdev --getsize64 "+dev, "dumpe2fs -h "+dev)
	assert.Equal(t, 0, count(r.calls, "resize2fs"), "a new filesystem fills its disk")
	writeRandom(t, h, repoFile, 24*mib)

	// 24 MiB of data needs about 48 MiB and a part; 64 MiB less 5% reserved and the data leave less.
	before := len(h.Calls())
	_, log, code := backup(t, h, "")
	assert.Equal(t, 1, code)
	assert.Contains(t, log, "not enough free space for a backup")
	assert.Contains(t, log, "Grow the data volume (gitlabHost:dataVolumeSizeGb) and run up")
	assert.Equal(t, 0, count(h.Calls()[before:], "gitlab-backup create"), "refused before anything is made")
	assert.Empty(t, h.S3Keys())

	// A restore of a 20 MiB archive needs four times that.
	old := "1764590400_2025_12_01_" + gitlabV1
	h.PutS3Object("backups/"+old+"_gitlab_backup.tar", bytes.Repeat([]byte("x"), 20*mib))
	h.PutS3Object("backups/"+old+"_gitlab_etc.tar", []byte("x"))
	before, requests := len(h.Calls()), len(h.S3Requests())
	out, code := h.run(hostscripts.RestorePath + " " + old)
	assert.Equal(t, 5, code, out)
	assert.Contains(t, out, "not enough free space to restore "+old)
	assert.Contains(t, out, "gitlabHost:dataVolumeSizeGb")
	assert.Equal(t, 0, count(h.Calls()[before:], "gitlab-ctl"), "nothing stops for a refused restore")
	assert.False(t, slices.ContainsFunc(h.S3Requests()[requests:], func(r string) bool { return strings.HasPrefix(r, "GET ") }), "nothing is downloaded: %q", h.S3Requests()[requests:])

	// The volume grows (gitlabHost:dataVolumeSizeGb raised): the next apply
	// rescans the disk, sees it larger than its filesystem and grows it.
	h.GrowDataVolume(512 * mib)
	r = h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)
	requireOrder(t, r.calls, "blockdev --getsize64 "+dev, "dumpe2fs -h "+dev, "resize2fs "+dev, "gitlab-ctl reconfigure")
	assert.Equal(t, 1, count(r.calls, "resize2fs"))
	assert.Equal(t, 0, count(r.calls, "mount "+hostscripts.DataMount), "mounted already")
	assert.Equal(t, "1\n", string(h.File("/sys/block/sdb/device/rescan")), "the disk was rescanned")
	assert.Contains(t, r.log, "mount_data: the volume is 536870912 bytes, its filesystem 67108864: growing the filesystem online")
	out, _ = h.run("dumpe2fs -h " + dev + " 2>/dev/null | grep '^Block count'")
	assert.Equal(t, "Block count:              131072", strings.TrimSpace(out))

	id, log, code := backup(t, h, "")
	require.Equal(t, 0, code, log)
	assert.Regexp(t, `free space: 0\.[0-9]{2} GB in /var/opt/gitlab/backups, about 0\.0[0-9] GB needed`, log)
	assert.NotNil(t, h.S3Object("backups/"+id+"_gitlab_backup.tar"))

	// The same size again: nothing to grow.
	r = h.apply(s)
	require.Equal(t, hostscripts.StatusDone, r.status)
	assert.Equal(t, 0, count(r.calls, "resize2fs"))
}

// curl before 7.87.0 signs uploads wrongly: the backup refuses before
// making anything, and says what to change; 7.87.0 itself is fine.
func TestBackupRefusesACurlThatMissignsUploads(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v1)).status)
	h.SetCurlVersion("7.81.0") // Ubuntu 22.04's
	before := len(h.Calls())
	_, log, code := backup(t, h, "")
	assert.Equal(t, 1, code)
	assert.Contains(t, log, "curl 7.81.0 signs uploads wrongly (fixed in 7.87.0)")
	assert.Contains(t, log, "use gitlabHost:image ubuntu_noble, or backup:enabled false")
	assert.Equal(t, 0, count(h.Calls()[before:], "gitlab-backup"))
	assert.Empty(t, h.S3Keys())

	h.SetCurlVersion("7.87.0")
	_, log, code = backup(t, h, "")
	assert.Equal(t, 0, code, log)
	assert.Len(t, h.S3Keys(), 2)
}

// A host whose first boot did not install gnupg gets it installed before
// the repository's key is dearmored, after the network wait.
func TestMissingGnuPGIsInstalledFirst(t *testing.T) {
	t.Parallel()
	h := startHost(t, harness.WithoutGnuPG())
	out, _ := h.run("command -v gpg || echo none")
	require.Equal(t, "none", strings.TrimSpace(out), "the sandbox has no gpg")
	r := h.apply(settings(t, h, v1))
	require.Equal(t, hostscripts.StatusDone, r.status)
	requireOrder(t, r.calls,
		"curl -fsS --max-time 30 -o /run/gitlab-kapsule/gpgkey https://packages.gitlab.com/gitlab/gitlab-ce/gpgkey",
		"apt-get -o DPkg::Lock::Timeout=600 update -q",
		"apt-get -o DPkg::Lock::Timeout=600 install -y -q gnupg",
		"gpg --dearmor --yes -o /usr/share/keyrings/gitlab.gpg",
		"apt-get -o DPkg::Lock::Timeout=600 update -q",
		"apt-get -o DPkg::Lock::Timeout=600 install -y -q gitlab-ce="+v1,
	)
	assert.Contains(t, r.log, "add_repository: installing gnupg, missing: cloud-init did not install them")
}

// A restore whose gitlab-secrets.json does not decrypt the restored
// database fails after restoring and says what gitlab:doctor:secrets found.
func TestRestoreReportsSecretsThatDoNotDecrypt(t *testing.T) {
	t.Parallel()
	h := startHost(t)
	require.Equal(t, hostscripts.StatusDone, h.apply(settings(t, h, v1)).status)
	id, log, code := backup(t, h, "")
	require.Equal(t, 0, code, log)

	// The configuration's tar with another host's secrets.
	key := "backups/" + id + "_gitlab_etc.tar"
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(h.S3Object(key)))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		if hdr.Name == "/etc/gitlab/gitlab-secrets.json" {
			body = []byte(`{"gitlab_rails":{"db_key_base":"0123456789abcdef0123456789abcdef"}}` + "\n")
			hdr.Size = int64(len(body))
		}
		require.NoError(t, tw.WriteHeader(hdr))
		_, err = tw.Write(body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	h.PutS3Object(key, out.Bytes())

	before := len(h.Calls())
	restored, code := h.run(hostscripts.RestorePath + " " + id)
	assert.Equal(t, 4, code, restored)
	requireOrder(t, h.Calls()[before:], "gitlab-backup restore BACKUP="+id, "gitlab-rake gitlab:check", "gitlab-rake gitlab:doctor:secrets")
	assert.Contains(t, restored, "INFO -- : - ApplicationSetting failures: 1")
	assert.Contains(t, restored, "gitlab:doctor:secrets finds 1 row(s) whose encrypted values the restored gitlab-secrets.json cannot decrypt: - ApplicationSetting failures: 1")
	assert.NotContains(t, restored, "backup "+id+" restored")
}

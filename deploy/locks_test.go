package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeLock writes a lock file as the file backend does.
func writeLock(t *testing.T, dir, project, stack, id string, pid int, host string) string {
	t.Helper()
	path := filepath.Join(dir, ".pulumi", "locks", "organization", project, stack, id+".json")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	b, err := json.Marshal(map[string]any{"pid": pid, "username": "someone", "hostname": host, "timestamp": "2026-01-01T00:00:00Z"})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// deadPid is the id of a process that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

// TestStaleLocksAreRemoved: after a cancel, only the locks of dead
// processes of this host on this stack go; a live process's lock, another
// host's and another stack's stay.
func TestStaleLocksAreRemoved(t *testing.T) {
	dir := t.TempDir()
	host, err := os.Hostname()
	require.NoError(t, err)
	stale := writeLock(t, dir, "proj", "dev", "a", deadPid(t), host)
	live := writeLock(t, dir, "proj", "dev", "b", os.Getpid(), host)
	remote := writeLock(t, dir, "proj", "dev", "c", deadPid(t), "another-host")
	other := writeLock(t, dir, "proj", "prod", "d", deadPid(t), host)

	locks, err := StackLocks(dir, "proj", "dev")
	require.NoError(t, err)
	assert.Len(t, locks, 3)

	require.NoError(t, removeStaleLocks("file://"+dir, nil, "dev"))
	assert.NoFileExists(t, stale)
	for _, f := range []string{live, remote, other} {
		assert.FileExists(t, f)
	}
	require.NoError(t, removeStaleLocks("s3://bucket", nil, "dev"), "other backends are left alone")
}

// TestConfigEncoding: typed values become the strings `pulumi config set` takes.
func TestConfigEncoding(t *testing.T) {
	m, err := Config{
		"kapsule:size":            Plain(3),
		"gitlabHost:tls":          Plain(true),
		"network:allowedIpRanges": Plain([]string{"51.15.100.0/24"}),
		"gitlabHost:rootPassword": Secret("pw-pw-pw-pw"),
		"scaleway:region":         Plain("fr-par"),
	}.encode()
	require.NoError(t, err)
	assert.Equal(t, "3", m["kapsule:size"].Value)
	assert.Equal(t, "true", m["gitlabHost:tls"].Value)
	assert.Equal(t, `["51.15.100.0/24"]`, m["network:allowedIpRanges"].Value)
	assert.True(t, m["gitlabHost:rootPassword"].Secret)
	assert.False(t, m["scaleway:region"].Secret)

	_, err = Config{"gitlabHost:rootPassword": Secret(func() {})}.encode()
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "0x", "the value is not shown")
	_, err = Config{"kapsule:size": Plain(nil)}.encode()
	require.ErrorContains(t, err, "kapsule:size has no value")
}

// TestCheckBackend accepts the URLs Pulumi takes and explains the others.
func TestCheckBackend(t *testing.T) {
	dir := t.TempDir()
	for _, ok := range []string{"file://" + dir, "s3://bucket/prefix", "gs://b", "azblob://c", "https://api.pulumi.com", "postgres://u:p@db/state"} {
		assert.NoError(t, CheckBackend(ok), ok)
	}
	err := CheckBackend("postgres://user:hunter2@db:5432/x?sslmode=bad&x=%zz")
	if err != nil {
		assert.NotContains(t, err.Error(), "hunter2", "a password in the URL is never printed")
	}
	assert.Equal(t, "postgres://user:xxxxx@db/state", redact("postgres://user:hunter2@db/state"))
	err = CheckBackend("ftp://user:hunter2@host/x")
	require.ErrorIs(t, err, ErrBackend)
	assert.NotContains(t, err.Error(), "hunter2")
}

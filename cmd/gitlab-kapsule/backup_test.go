package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
)

const (
	testBackupID    = "1764547200_2026_12_01_18.5.2"
	olderBackupID   = "1764460800_2026_11_30_18.5.2"
	testBackupHost  = "root@glk-dev-gitlab.glk-dev-pn.internal"
	testBackupJump  = "bastion@203.0.113.7:61000"
	testBucketName  = "glk-dev-gitlab-backups-0a1b2c3d"
	fakeSSHExitFile = "exit"
)

// backupStack is a deployed stack with backups: the shared outputs and the bucket.
func backupStack() auto.OutputMap {
	outs := outputs(testBackupJump, "https://10.0.0.10")
	outs[string(backupBucketOutput)] = auto.OutputValue{Value: testBucketName}
	return outs
}

// fakeSSH puts on PATH an `ssh` that stands in for the OpenSSH client
// reaching the GitLab host, whose stand-in scripts answer as the host's
// gitlab-kapsule-backup (progress, then the ID; --list: one ID a line) and
// gitlab-kapsule-restore do, and `gitlab-ctl stop` as Omnibus's does
// (one "ok: down: SERVICE" line per service). It records each call's argv, one argument a
// line, calls separated by "--", and exits with the status written to the
// file "exit" in its folder (0 when there is none). It returns that folder.
func fakeSSH(t *testing.T, listed ...string) (dir string, calls func() [][]string) {
	t.Helper()
	dir = t.TempDir()
	log := filepath.Join(dir, "calls.log")
	list := ""
	for _, id := range listed {
		list += "echo '" + id + "'\n"
	}
	script := `#!/bin/sh
for a in "$@"; do printf '%s\n' "$a" >> '` + log + `'; done
echo -- >> '` + log + `'
code=0
[ -f '` + filepath.Join(dir, fakeSSHExitFile) + `' ] && code=$(cat '` + filepath.Join(dir, fakeSSHExitFile) + `')
[ "$code" = 0 ] || { echo "fake ssh: exit $code" >&2; exit "$code"; }
eval "last=\${$#}"
case "$last" in
*gitlab-kapsule-backup" --list") ` + list + ` ;;
*gitlab-kapsule-backup) echo "Dumping database ... done"; echo "Uploading to s3 ... done"; echo '` + testBackupID + `' ;;
*gitlab-kapsule-restore" "*) echo "Restoring ... done" ;;
"gitlab-ctl stop && sync") echo "ok: down: puma: 0s, normally up" ;;
*) echo "fake ssh: unknown remote command: $last" >&2; exit 1 ;;
esac
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir, func() [][]string {
		b, err := os.ReadFile(log)
		if os.IsNotExist(err) {
			return nil
		}
		require.NoError(t, err)
		var out [][]string
		var cur []string
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l == "--" {
				out = append(out, cur)
				cur = nil
				continue
			}
			cur = append(cur, l)
		}
		return out
	}
}

// sshTo is the argv the fake ssh gets for remote: the stack's sshCommand with a
// keepalive, then the command.
func sshTo(remote string) []string {
	return []string{"-o", "ServerAliveInterval=30", "-J", testBackupJump, testBackupHost, remote}
}

// answer makes restore's confirmation read s.
func answer(t *testing.T, s string) {
	t.Helper()
	old := confirmInput
	confirmInput = strings.NewReader(s)
	t.Cleanup(func() { confirmInput = old })
}

func TestBackupRunsTheHostScriptAndPrintsTheID(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, backupStack())
	_, calls := fakeSSH(t)
	code, out, errOut := runCLI("--dir", dir, "--backend", backend, "backup")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, testBackupID+"\n", out, "stdout is the ID alone: id=$(gitlab-kapsule backup)")
	assert.Contains(t, errOut, "Dumping database ... done\nUploading to s3 ... done\n", "the script's progress goes to stderr")
	assert.Contains(t, errOut, "GitLab backup "+testBackupID+" is in bucket "+testBucketName)
	assert.Contains(t, errOut, "`gitlab-kapsule --dir "+dir+" --backend "+backend+" restore "+testBackupID+"` restores it")
	assert.Equal(t, [][]string{sshTo("/usr/local/sbin/gitlab-kapsule-backup")}, calls())
}

func TestBackupErrorsNameTheFix(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, backupStack())
	sshDir, _ := fakeSSH(t)
	for status, want := range map[string]string{
		"255": "ssh could not reach the GitLab host (exit 255): is your key in network:sshPublicKey, and your address in network:allowedIpRanges?",
		"127": "could not run /usr/local/sbin/gitlab-kapsule-backup (exit 127, command not found): run up with this version of the program",
		"3":   "could not back GitLab up: the script on the GitLab host failed (exit 3): its output is above",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(sshDir, fakeSSHExitFile), []byte(status), 0o600))
		code, out, errOut := runCLI("--dir", dir, "--backend", backend, "backup")
		assert.Equal(t, exitFailed, code, status)
		assert.Empty(t, out, status)
		assert.Contains(t, errOut, want, status)
	}
}

func TestBackupOfAStackWithoutBucket(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, outputs(testBackupJump, "https://10.0.0.10"))
	_, calls := fakeSSH(t)
	for _, cmd := range [][]string{{"backup"}, {"restore"}, {"restore", testBackupID, "--yes"}} {
		code, _, errOut := runCLI(append([]string{"--dir", dir, "--backend", backend}, cmd...)...)
		assert.Equal(t, exitMissing, code, "%v", cmd)
		assert.Contains(t, errOut, "the stack has no backup bucket (output backupBucket): set backup:enabled to true (the default) and run up", "%v", cmd)
	}
	assert.Empty(t, calls(), "nothing reaches the host")
}

func TestBackupNeedsTheOpenSSHClient(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, backupStack())
	// The fake pulumi's folder, and cat (which it uses) without ssh beside it.
	tools := t.TempDir()
	cat, err := exec.LookPath("cat")
	require.NoError(t, err)
	require.NoError(t, os.Symlink(cat, filepath.Join(tools, "cat")))
	t.Setenv("PATH", filepath.SplitList(os.Getenv("PATH"))[0]+string(os.PathListSeparator)+tools)
	code, _, errOut := runCLI("--dir", dir, "--backend", backend, "backup")
	assert.Equal(t, exitMissing, code)
	assert.Contains(t, errOut, "ssh is not on PATH: install the OpenSSH client")
}

func TestRestoreWithoutIDListsTheBackups(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, backupStack())
	_, calls := fakeSSH(t, olderBackupID, testBackupID)
	code, out, errOut := runCLI("--dir", dir, "--backend", backend, "restore")
	assert.Equal(t, exitUsage, code, "restore without an ID restores nothing")
	assert.Equal(t, olderBackupID+"\n"+testBackupID+"\n", out)
	assert.Contains(t, errOut, "name the backup to restore, one of those above: `gitlab-kapsule --dir "+dir+" --backend "+backend+" restore ID`")
	assert.Equal(t, [][]string{sshTo("/usr/local/sbin/gitlab-kapsule-backup --list")}, calls(), "only the list runs")

	// An empty bucket says how to make a backup.
	dir, backend = fakePulumiWithOutputs(t, backupStack())
	_, calls = fakeSSH(t)
	code, out, errOut = runCLI("--dir", dir, "--backend", backend, "restore")
	assert.Equal(t, exitFailed, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "bucket "+testBucketName+" holds no backup yet: make one with `gitlab-kapsule --dir "+dir+" --backend "+backend+" backup`")
	assert.Len(t, calls(), 1)
}

func TestRestoreAsksFirst(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, backupStack())
	_, calls := fakeSSH(t)
	cli := func(args ...string) (int, string, string) {
		return runCLI(append([]string{"--dir", dir, "--backend", backend}, args...)...)
	}

	for reply, want := range map[string]string{
		"no\n": `restore not confirmed (answered "no"), nothing was changed`,
		"":     "restore not confirmed (no answer: EOF), nothing was changed: answer yes, or pass --yes",
	} {
		answer(t, reply)
		code, out, errOut := cli("restore", testBackupID)
		assert.Equal(t, exitFailed, code, "%q", reply)
		assert.Empty(t, out, "%q", reply)
		assert.Contains(t, errOut, "Restoring backup "+testBackupID+" replaces every repository, user, issue and setting of GitLab on "+testBackupHost, "%q", reply)
		assert.Contains(t, errOut, "The backup must come from the GitLab version the host runs (gitlabHost:version)", "%q", reply)
		assert.Contains(t, errOut, want, "%q", reply)
	}
	assert.Empty(t, calls(), "nothing reaches the host before yes")

	answer(t, "yes\n")
	code, out, errOut := cli("restore", testBackupID)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Restoring ... done\n")
	assert.Contains(t, out, "Restored GitLab backup "+testBackupID+".\nNow run `gitlab-kapsule --dir "+dir+" --backend "+backend+" up --reconfigure`")
	assert.Contains(t, out, "root password and automation token")
	assert.Equal(t, [][]string{sshTo("/usr/local/sbin/gitlab-kapsule-restore " + testBackupID)}, calls())

	// --yes, also after the ID, asks nothing.
	answer(t, "")
	code, out, errOut = cli("restore", olderBackupID, "--yes")
	require.Equal(t, 0, code, errOut)
	assert.NotContains(t, errOut, "Type yes")
	assert.Contains(t, out, "Now run `")
	assert.Equal(t, sshTo("/usr/local/sbin/gitlab-kapsule-restore "+olderBackupID), calls()[1])
}

func TestRestoreRefusesWhatIsNoBackupID(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, backupStack())
	_, calls := fakeSSH(t)
	for _, id := range []string{"x;reboot", "$(id)", "a b", "-rf", "../etc", strings.Repeat("1", 129)} {
		code, _, errOut := runCLI("--dir", dir, "--backend", backend, "restore", "--yes", "--", id)
		assert.Equal(t, exitUsage, code, id)
		assert.Contains(t, errOut, "is not a backup ID (letters, digits, '.', '_' and '-'", id)
	}
	assert.Empty(t, calls(), "an ID never reaches the host's shell unchecked")

	code, _, errOut := runCLI("--dir", dir, "--backend", backend, "restore", testBackupID, olderBackupID)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "restore takes no argument \""+olderBackupID+"\"")
	code, _, errOut = runCLI("--dir", dir, "--backend", backend, "backup", testBackupID)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "backup takes no argument")
}

func TestBackupCommandsAreDocumented(t *testing.T) {
	errOut := helpOf(t, "restore")
	assert.Contains(t, errOut, "usage: gitlab-kapsule restore [ID] [--yes]\n")
	assert.Contains(t, errOut, "-yes")
	errOut = helpOf(t)
	assert.Contains(t, errOut, "  backup   back GitLab up now")
	assert.Contains(t, errOut, "  restore  list the backups")
}

// Guarded replacements as up's preview names them (deploy.GuardedReplacements).
var (
	serverReplaced = deploy.Replacement{URN: "urn:pulumi:dev::gitlab-kapsule::scaleway:instance/server:Server::glk-dev-gitlab",
		Type: "scaleway:instance/server:Server", Name: "glk-dev-gitlab", Kind: deploy.GuardedServer, Keys: []string{"image"}}
	volumeReplaced = deploy.Replacement{URN: "urn:pulumi:dev::gitlab-kapsule::scaleway:block/volume:Volume::glk-dev-gitlab-data",
		Type: "scaleway:block/volume:Volume", Name: "glk-dev-gitlab-data", Kind: deploy.GuardedVolume, Keys: []string{"zone"}}
	clusterReplaced = deploy.Replacement{URN: "urn:pulumi:dev::gitlab-kapsule::scaleway:kubernetes/cluster:Cluster::kapsule",
		Type: "scaleway:kubernetes/cluster:Cluster", Name: "kapsule", Kind: deploy.GuardedCluster}
)

// beforeReplace is the BeforeReplace that `up` with these flags gives
// package deploy (replaceOptions), and where it writes.
func beforeReplace(t *testing.T, dir, backend string, allowReplace, noBackup bool) (func(context.Context, []deploy.Replacement) error, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	var opts deploy.Options
	replaceOptions(&options{stack: defaultStack, dir: dir, backend: backend}, &stderr, allowReplace, noBackup)(&opts)
	require.Equal(t, allowReplace, opts.AllowReplace)
	return opts.BeforeReplace, &stderr
}

// TestUpAllowReplaceBacksTheHostUpFirst: the hook up --allow-replace gives
// package deploy, which Up calls after its preview and before the update
// (tests/deploy TestUpRunsBeforeReplaceFirst), runs the host's backup over
// the stack's SSH command (the fake ssh) when the GitLab server or its data
// volume is replaced, and says which backup holds the data; a replacement
// of neither backs nothing up; a backup that fails stops the up, naming
// --no-backup. Without --allow-replace there is no hook (up refuses).
func TestUpAllowReplaceBacksTheHostUpFirst(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, backupStack())
	sshDir, calls := fakeSSH(t)

	hook, _ := beforeReplace(t, dir, backend, false, false)
	assert.Nil(t, hook, "no --allow-replace: up refuses, nothing to run before")

	hook, stderr := beforeReplace(t, dir, backend, true, false)
	require.NotNil(t, hook)
	require.NoError(t, hook(t.Context(), []deploy.Replacement{clusterReplaced}))
	assert.Empty(t, calls(), "a cluster's replacement backs nothing up")
	assert.Empty(t, stderr.String())

	require.NoError(t, hook(t.Context(), []deploy.Replacement{clusterReplaced, serverReplaced}))
	assert.Equal(t, [][]string{sshTo("/usr/local/sbin/gitlab-kapsule-backup"), sshTo("gitlab-ctl stop && sync")}, calls(),
		"the host's backup, through the bastion, then GitLab stopped so the volume is not cut off mid-write")
	out := stderr.String()
	assert.Contains(t, out, `Backing GitLab up on the host before --allow-replace replaces or deletes scaleway:instance/server:Server "glk-dev-gitlab":`)
	assert.Contains(t, out, "Dumping database ... done\n", "the script's progress")
	assert.Contains(t, out, "GitLab backup "+testBackupID+" is in bucket "+testBucketName+
		" (`gitlab-kapsule --dir "+dir+" --backend "+backend+" restore "+testBackupID+"` restores it); going on with the replacement.")
	assert.Contains(t, out, "GitLab is stopped on the old host; should this up fail before the host is replaced, `gitlab-kapsule --dir "+dir+" --backend "+backend+" ssh --exec gitlab-ctl start` starts it again.")

	stderr.Reset()
	require.NoError(t, hook(t.Context(), []deploy.Replacement{volumeReplaced}))
	assert.Len(t, calls(), 4, "a replaced data volume is backed up too, and GitLab stopped")

	require.NoError(t, os.WriteFile(filepath.Join(sshDir, fakeSSHExitFile), []byte("255"), 0o600))
	err := hook(t.Context(), []deploy.Replacement{serverReplaced})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "backing GitLab up before the replacement: could not back GitLab up: ssh could not reach the GitLab host (exit 255)")
	assert.Contains(t, err.Error(), "if the GitLab host is gone or cannot back up, `gitlab-kapsule --dir "+dir+" --backend "+backend+" up --allow-replace --no-backup` replaces it without a backup")
}

// TestUpAllowReplaceWithoutBackups: a stack without a backup bucket
// replaces the server with a warning (the data volume stays), and refuses
// to replace the data volume, naming backup:enabled and --no-backup,
// unless the volume is only dropped from the stack and retained;
// --no-backup skips the backup, warning that a replaced volume's data is
// lost. Nothing reaches the host in any of these.
func TestUpAllowReplaceWithoutBackups(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, outputs(testBackupJump, "https://10.0.0.10"))
	_, calls := fakeSSH(t)
	hook, stderr := beforeReplace(t, dir, backend, true, false)

	require.NoError(t, hook(t.Context(), []deploy.Replacement{serverReplaced}))
	assert.Contains(t, stderr.String(), `warning: no backup before replacing or deleting scaleway:instance/server:Server "glk-dev-gitlab": the stack has no backup bucket`)
	assert.Contains(t, stderr.String(), "GitLab's data stays on its data volume, which the new server mounts")
	assert.Equal(t, [][]string{sshTo("gitlab-ctl stop && sync")}, calls(), "no backup, but GitLab is stopped before its host goes")

	err := hook(t.Context(), []deploy.Replacement{serverReplaced, volumeReplaced})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--allow-replace would replace GitLab's data volume, and the stack has no backup bucket to back it up to first")
	assert.Contains(t, err.Error(), "every repository, user and token on it would be lost")
	assert.Contains(t, err.Error(), "Set backup:enabled to true and run up without the replacement, then `gitlab-kapsule --dir "+dir+" --backend "+backend+" backup`")
	assert.Contains(t, err.Error(), "up --allow-replace --no-backup`")

	retained := volumeReplaced
	retained.Delete, retained.Retained = true, true
	require.NoError(t, hook(t.Context(), []deploy.Replacement{retained}), "a retained volume keeps its data in Scaleway")

	hook, stderr = beforeReplace(t, dir, backend, true, true)
	require.NoError(t, hook(t.Context(), []deploy.Replacement{serverReplaced, volumeReplaced}))
	assert.Contains(t, stderr.String(), "warning: --no-backup: replacing or deleting scaleway:instance/server:Server \"glk-dev-gitlab\" and scaleway:block/volume:Volume \"glk-dev-gitlab-data\" without backing GitLab up first: what is on the data volume now is lost")
	assert.Len(t, calls(), 2, "only the server replacements' stops reached the host")
}

// TestNoBackupBacksNothingUp: --no-backup skips the backup even with a
// bucket (the host is gone), with a warning, and without --allow-replace
// it is a usage error.
func TestNoBackupBacksNothingUp(t *testing.T) {
	dir, backend := fakePulumiWithOutputs(t, backupStack())
	_, calls := fakeSSH(t)
	hook, stderr := beforeReplace(t, dir, backend, true, true)
	require.NoError(t, hook(t.Context(), []deploy.Replacement{serverReplaced}))
	assert.Empty(t, calls())
	assert.Contains(t, stderr.String(), "warning: --no-backup: replacing or deleting scaleway:instance/server:Server \"glk-dev-gitlab\" without backing GitLab up first\n")

	code, _, errOut := runCLI("--dir", dir, "--backend", backend, "up", "--no-backup")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "--no-backup goes with --allow-replace: it skips the backup that precedes a replacement")
}

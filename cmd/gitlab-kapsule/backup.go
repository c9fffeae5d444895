package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

// The host's backup and restore scripts, which the host configuration
// installs (package hostscripts: gitlab-kapsule-backup [--list],
// gitlab-kapsule-restore ID).
const (
	hostBackupScript  = "/usr/local/sbin/gitlab-kapsule-backup"
	hostRestoreScript = "/usr/local/sbin/gitlab-kapsule-restore"
)

// backupBucketOutput names the stack's backup bucket; a stack without it
// backs nothing up (backup:enabled false, or deployed before backups).
const backupBucketOutput stack.Output = "backupBucket"

// backupID is what a backup ID may be. GitLab's are "<unix time>_<date>_<version>",
// e.g. 1704402450_2024_01_04_16.7.0-ee (gitlab-org/gitlab#436370); the ID
// becomes part of the command line the host's shell runs, so nothing beyond
// letters, digits, '.', '_' and '-' gets there.
var backupID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// confirmInput is where restore reads its confirmation (tests replace it).
var confirmInput io.Reader = os.Stdin

func cmdBackup(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	if _, err := parseCommand("backup", o, args, stderr, 0, nil); err != nil {
		return err
	}
	outs, bucket, err := backupOutputs(ctx, o)
	if err != nil {
		return err
	}
	id, err := backupHost(ctx, o, outs, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	fmt.Fprintf(stderr, "GitLab backup %s is in bucket %s; `%s` restores it.\n", id, bucket, restoreCommand(o, id))
	return nil
}

// backupHost runs the host's backup script over the stack's SSH command
// (outs) and returns the backup's ID, the script's last line; what it
// prints before goes to stderr as it comes.
func backupHost(ctx context.Context, o *options, outs auto.OutputMap, stderr io.Writer) (string, error) {
	argv, err := hostCommand(outs, hostBackupScript)
	if err != nil {
		return "", err
	}
	// Both of ssh's streams end in stderr, copied by two goroutines: one lock.
	errW := &lockedWriter{w: stderr}
	last := &lastLine{w: errW}
	if err := runOnHost(ctx, argv, last, errW, "back GitLab up"); err != nil {
		return "", err
	}
	id := last.held()
	if !backupID.MatchString(id) {
		return "", fmt.Errorf("the backup script on the GitLab host ended without printing a backup ID (its last line: %q): look at its output above, or on the host with `%s`",
			id, sshExecCommand(o))
	}
	return id, nil
}

// noBackupFlag is up's flag that skips the backup before a replacement.
const noBackupFlag = "--no-backup"

// backupBeforeReplace is up --allow-replace's deploy.Options.BeforeReplace.
// When the preview replaces or deletes the GitLab server or its data
// volume, it backs GitLab up on the host that is still there (the issue:
// "before every upgrade or replacement"), and an error stops the up before
// anything changes. Without a backup bucket (backup:enabled false):
//   - the server alone goes on with a warning: GitLab's data and secrets are
//     on the data volume, retained and mounted by the new server, so a
//     replacement loses nothing but the time to reinstall;
//   - a replaced data volume (or one deleted, not retained) is refused: it
//     would come back empty with nothing to restore. No interactive
//     question: up runs in CI and with --json, so the choice is a flag.
//
// noBackup (--no-backup) skips the backup with a warning, for a host that
// is gone or cannot back up (the reason it is replaced, often). Every
// message goes to stderr: with --json, stdout holds the engine's events.
func backupBeforeReplace(o *options, stderr io.Writer, noBackup bool) func(context.Context, []deploy.Replacement) error {
	return func(ctx context.Context, rs []deploy.Replacement) error {
		var host []string
		volumeLost := false
		for _, r := range rs {
			if r.Kind != deploy.GuardedServer && r.Kind != deploy.GuardedVolume {
				continue
			}
			host = append(host, fmt.Sprintf("%s %q", r.Type, r.Name))
			volumeLost = volumeLost || (r.Kind == deploy.GuardedVolume && !(r.Delete && r.Retained))
		}
		if len(host) == 0 {
			return nil
		}
		what := strings.Join(host, " and ")
		if noBackup {
			fmt.Fprintf(stderr, "%swarning: %s: replacing or deleting %s without backing GitLab up first", errorPrefix, noBackupFlag, what)
			if volumeLost {
				fmt.Fprint(stderr, ": what is on the data volume now is lost unless a backup restores it")
			}
			fmt.Fprintln(stderr)
			return nil
		}
		outs, err := readOutputs(ctx, o)
		if err != nil {
			return err
		}
		bucket, err := backupBucket(outs)
		switch {
		case err != nil && volumeLost:
			return fmt.Errorf("%s would replace GitLab's data volume, and the stack has no backup bucket to back it up to first (output %s): every repository, user and token on it would be lost. "+
				"Set backup:enabled to true and run up without the replacement, then `%s`; or, to lose that data, run `%s %s %s`",
				deploy.AllowReplaceFlag, backupBucketOutput, backupCommand(o), upCommand(o), deploy.AllowReplaceFlag, noBackupFlag)
		case err != nil:
			fmt.Fprintf(stderr, "%swarning: no backup before replacing or deleting %s: the stack has no backup bucket (backup:enabled false); "+
				"GitLab's data stays on its data volume, which the new server mounts\n", errorPrefix, what)
			stopGitLab(ctx, o, outs, stderr)
			return nil
		}
		fmt.Fprintf(stderr, "Backing GitLab up on the host before %s replaces or deletes %s:\n", deploy.AllowReplaceFlag, what)
		id, err := backupHost(ctx, o, outs, stderr)
		if err != nil {
			return fmt.Errorf("backing GitLab up before the replacement: %w; if the GitLab host is gone or cannot back up, `%s %s %s` replaces it without a backup",
				err, upCommand(o), deploy.AllowReplaceFlag, noBackupFlag)
		}
		fmt.Fprintf(stderr, "GitLab backup %s is in bucket %s (`%s` restores it); going on with the replacement.\n", id, bucket, restoreCommand(o, id))
		stopGitLab(ctx, o, outs, stderr)
		return nil
	}
}

// stopGitLab stops GitLab on the host about to be replaced: Scaleway
// terminates a running server (terraform-provider-scaleway instance
// server.go, terminateServer) and only detaches its SBS volumes, so without
// this PostgreSQL and Gitaly would be cut off mid-write on the data volume
// the new server mounts. A host that does not answer is going anyway: a
// warning, and the up goes on.
func stopGitLab(ctx context.Context, o *options, outs auto.OutputMap, stderr io.Writer) {
	argv, err := hostCommand(outs, "gitlab-ctl stop && sync")
	if err == nil {
		err = runOnHost(ctx, argv, stderr, stderr, "stop GitLab")
	}
	if err != nil {
		fmt.Fprintf(stderr, "%swarning: could not stop GitLab on the old host before its replacement (%v): its data volume is detached from a running GitLab\n", errorPrefix, err)
		return
	}
	fmt.Fprintf(stderr, "GitLab is stopped on the old host; should this up fail before the host is replaced, `%s` starts it again.\n", sshExecCommand(o)+" gitlab-ctl start")
}

func cmdRestore(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	var yes bool
	fs, err := parseCommandAnyOrder("restore", o, args, stderr, 1, func(fs *flag.FlagSet) {
		fs.BoolVar(&yes, "yes", false, "restore without asking for confirmation")
	})
	if err != nil {
		return err
	}
	id := fs.Arg(0)
	if id != "" && !backupID.MatchString(id) {
		return fmt.Errorf("%q is not a backup ID (letters, digits, '.', '_' and '-', as `%s` lists them): %w", id, restoreCommand(o, ""), errUsage)
	}
	outs, bucket, err := backupOutputs(ctx, o)
	if err != nil {
		return err
	}
	if id == "" {
		return listBackups(ctx, o, outs, bucket, stdout, stderr)
	}
	host, err := stringOutput(outs, stack.SSHCommand)
	if err != nil {
		return err
	}
	if !yes {
		if err := confirmRestore(o, id, hostOf(host), stderr); err != nil {
			return err
		}
	}
	argv, err := hostCommand(outs, hostRestoreScript+" "+id)
	if err != nil {
		return err
	}
	if err := runOnHost(ctx, argv, stdout, stderr, "restore backup "+id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Restored GitLab backup %s.\nNow run `%s --reconfigure`: the restored database holds the root password and automation token of when the backup was made, "+
		"and that up configures the host again with this stack's (and its configuration), so the program and its GitLab resources work with GitLab again.\n", id, upCommand(o))
	return nil
}

// listBackups prints the bucket's backups and asks for one: restore without
// an ID changes nothing.
func listBackups(ctx context.Context, o *options, outs auto.OutputMap, bucket string, stdout, stderr io.Writer) error {
	argv, err := hostCommand(outs, hostBackupScript+" --list")
	if err != nil {
		return err
	}
	var listed bytes.Buffer
	if err := runOnHost(ctx, argv, io.MultiWriter(stdout, &listed), stderr, "list the backups"); err != nil {
		return err
	}
	if strings.TrimSpace(listed.String()) == "" {
		return fmt.Errorf("bucket %s holds no backup yet: make one with `%s`", bucket, backupCommand(o))
	}
	return fmt.Errorf("name the backup to restore, one of those above: `%s`: %w", restoreCommand(o, "ID"), errUsage)
}

// confirmRestore asks before GitLab's data is replaced; anything but "yes"
// (or no terminal to answer on) changes nothing.
func confirmRestore(o *options, id, host string, stderr io.Writer) error {
	fmt.Fprintf(stderr, "Restoring backup %s replaces every repository, user, issue and setting of GitLab on %s with the backup's: "+
		"what changed since it was made is lost. The backup must come from the GitLab version the host runs (gitlabHost:version).\n"+
		"Type yes to restore: ", id, host)
	answer, err := bufio.NewReader(confirmInput).ReadString('\n')
	if strings.EqualFold(strings.TrimSpace(answer), "yes") {
		return nil
	}
	fmt.Fprintln(stderr)
	if err != nil {
		return fmt.Errorf("restore not confirmed (no answer: %v), nothing was changed: answer yes, or pass --yes, e.g. `%s --yes`", err, restoreCommand(o, id))
	}
	return fmt.Errorf("restore not confirmed (answered %q), nothing was changed", strings.TrimSpace(answer))
}

// backupOutputs reads the stack's outputs and its backup bucket, failing
// where there is none.
func backupOutputs(ctx context.Context, o *options) (auto.OutputMap, string, error) {
	outs, err := readOutputs(ctx, o)
	if err != nil {
		return nil, "", err
	}
	bucket, err := backupBucket(outs)
	if err != nil {
		return nil, "", err
	}
	return outs, bucket, nil
}

// backupBucket is the stack's backup bucket, or why there is none.
func backupBucket(outs auto.OutputMap) (string, error) {
	v, ok := outs[string(backupBucketOutput)]
	bucket, _ := v.Value.(string)
	if !ok || bucket == "" {
		return "", fmt.Errorf("%w: the stack has no backup bucket (output %s): set backup:enabled to true (the default) and run up with this version of the program",
			errMissing, backupBucketOutput)
	}
	return bucket, nil
}

// The commands as the user runs them, flags included.
func backupCommand(o *options) string { return strings.TrimSuffix(upCommand(o), " up") + " backup" }

func restoreCommand(o *options, id string) string {
	cmd := strings.TrimSuffix(upCommand(o), " up") + " restore"
	if id != "" {
		cmd += " " + id
	}
	return cmd
}

func sshExecCommand(o *options) string {
	return strings.TrimSuffix(upCommand(o), " up") + " ssh --exec"
}

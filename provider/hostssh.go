package provider

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
)

// GitLabConfigured converges the GitLab host over SSH, as root, through the
// bastion, speaking the protocol agreed with package hostscripts (the
// scripts' side is theirs; this is the provider's):
//
//  1. one session hostscripts.UploadCommand whose stdin is a tar of the
//     scripts and of the payload (settings and secrets, 0600) at
//     hostscripts.PayloadPath;
//  2. one session hostscripts.ApplyCommand, which starts gitlab-kapsule-apply
//     detached (setsid -f), so that it survives a dropped SSH connection;
//  3. poll sessions that read the run's status file (absent or "running"
//     while it runs, "exit <n> <step>" when done) and the new bytes of its
//     log, which never holds a secret.
//
// Before 1, one session (earlierCommand) asks whether an earlier apply still
// runs: gitlab-kapsule-apply holds an flock on hostscripts.RunDir/apply.lock
// for its whole run, and a second one waits for it there (flock -w, for at
// most 2 h, then fails its "start" step with exit 75). A run whose provider
// stopped waiting goes on, detached; the next run waits for it from here,
// where the wait can be seen and named, rather than on the lock.
//
// The start is guarded by a marker directory made atomically by mkdir: a
// start whose answer was lost with the connection is seen by the next poll,
// and an apply is never started twice for one run.

// Tuning of the protocol; its paths and commands are package hostscripts'.
const (
	// hostKeepAlive is the pause between keepalives on the host's SSH
	// connection, and how long one may go unanswered before it is dropped.
	hostKeepAlive = 15 * time.Second
	// logTail is how many of the log's last lines a failure shows.
	logTail = 20
)

// applyLock is the lock gitlab-kapsule-apply holds while it runs (the
// script's `exec 9>"$run_dir/apply.lock"; flock -w 7200 9`).
const applyLock = hostscripts.RunDir + "/apply.lock"

// earlierCommand prints, one a line, "<runID> <its log's last line>" for
// each run whose status says "running", in the order of their ids (the
// order they started), but only while some apply holds applyLock: a status
// left "running" by an apply that was killed is stale once nothing holds
// the lock. flock -n fails at once on a held lock (flock(1)) and takes a
// free one only for the instant `true` runs; test -e keeps it from creating
// the lock file on a host that never ran an apply.
func earlierCommand() string {
	return fmt.Sprintf(`cd %s 2>/dev/null && test -e %s && ! flock -n %s true && for f in *.status; do `+
		`test "$(head -n 1 "$f" 2>/dev/null)" = %s && printf '%%s %%s\n' "${f%%.status}" "$(tail -n 1 %s/apply-"${f%%.status}".log 2>/dev/null)"; done; true`,
		hostscripts.RunDir, applyLock, applyLock, hostscripts.StatusRunning, hostscripts.LogDir)
}

// earlierApply is a run of gitlab-kapsule-apply that still runs on the host.
type earlierApply struct {
	id string
	// last is its log's last line.
	last string
}

// earlierApplies lists the runs that still run on the host, oldest first.
func earlierApplies(ctx context.Context, h *hostConn) ([]earlierApply, error) {
	out, err := h.run(ctx, "look for an earlier gitlab-kapsule-apply", earlierCommand(), nil)
	if err != nil {
		return nil, err
	}
	var runs []earlierApply
	for line := range strings.Lines(string(out)) {
		id, last, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		if hostscripts.ValidRunID(id) {
			runs = append(runs, earlierApply{id: id, last: strings.TrimSpace(last)})
		}
	}
	return runs, nil
}

// startedMarker is the directory whose mkdir guards a run's start.
func startedMarker(runID string) string { return hostscripts.RunDir + "/" + runID + ".started" }

// startCommand starts the apply of runID detached, unless this run was started already.
func startCommand(runID string) string {
	return "mkdir " + startedMarker(runID) + " && " + hostscripts.ApplyCommand(runID)
}

// pollCommand prints, on two lines, "started" when the run's marker exists
// and the first line of its status file, then the log from byte offset on.
func pollCommand(runID string, offset int64) string {
	return fmt.Sprintf(`printf '%%s\n' "$(test -d %s && echo started)" "$(head -n 1 %s 2>/dev/null)"; tail -c +%d %s 2>/dev/null; true`,
		startedMarker(runID), hostscripts.StatusPath(runID), offset+1, hostscripts.LogPath(runID))
}

// uploadTar is the tar of files, owned by root, as the upload session reads it.
func uploadTar(files []hostscripts.File, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    strings.TrimPrefix(f.Path, "/"),
			Mode:    int64(f.Mode.Perm()),
			Uname:   "root",
			Gname:   "root",
			ModTime: now,
		}
		if f.Mode.IsDir() {
			h.Typeflag, h.Name = tar.TypeDir, strings.TrimSuffix(h.Name, "/")+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Content))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Content); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrHostKeyChanged is matched (errors.Is) by every *GitLabHostKeyError.
var ErrHostKeyChanged = errors.New("gitlab host key changed")

// GitLabHostKeyError says that the GitLab host presented another SSH host
// key than the one trusted when this instance was first configured.
type GitLabHostKeyError struct {
	// Addr is the host's "host:port", as the bastion reaches it.
	Addr string
	// InstanceID is the instance the key was trusted for.
	InstanceID string
	// Want is the fingerprint trusted first; Got the one presented.
	Want, Got string
}

// Error says what happened and what to do about it.
func (e *GitLabHostKeyError) Error() string {
	return fmt.Sprintf("the GitLab host at %s (instance %s) presented SSH host key %s, not %s, which was trusted when this instance was first configured: "+
		"a replaced server has a new instanceId and its key is then trusted anew; the same instance with another key means the connection "+
		"may be intercepted, so stop and look (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host's console)",
		e.Addr, e.InstanceID, e.Got, e.Want)
}

// Is makes errors.Is(err, ErrHostKeyChanged) true.
func (e *GitLabHostKeyError) Is(target error) bool { return target == ErrHostKeyChanged }

// ApplyError says that gitlab-kapsule-apply failed: the step, its exit code
// and the log's last lines (the log never holds a secret).
type ApplyError struct {
	// Host is the GitLab host's "host:port".
	Host string
	// RunID names the run, and so its log on the host.
	RunID string
	// Step is the step that failed, as the status file names it.
	Step string
	// Code is the script's exit code.
	Code int
	// Tail are the log's last lines.
	Tail []string
}

// Error names the step and shows the log's tail.
func (e *ApplyError) Error() string {
	return fmt.Sprintf("gitlab-kapsule-apply on the GitLab host %s failed at step %q (exit %d); the last lines of %s:\n%s",
		e.Host, e.Step, e.Code, hostscripts.LogPath(e.RunID), strings.Join(e.Tail, "\n"))
}

// hostConn is the SSH connection to the GitLab host, through the bastion:
// opened on first use and again after it drops, its host key pinned, or
// trusted on first use and pinned from then on.
type hostConn struct {
	bastion    *bastion
	addr       string
	user       string
	signer     ssh.Signer
	instanceID string

	mu      sync.Mutex
	client  *ssh.Client
	trusted string
	// pinned tells whether trusted came from an earlier run (the state).
	pinned bool
	dials  int
}

func newHostConn(b *bastion, addr, user string, signer ssh.Signer, instanceID, pinned string) *hostConn {
	return &hostConn{bastion: b, addr: addr, user: user, signer: signer, instanceID: instanceID, trusted: pinned, pinned: pinned != ""}
}

// HostKeyFingerprint is the host key trusted so far, or "".
func (h *hostConn) HostKeyFingerprint() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.trusted
}

// connect returns the live SSH client to the host, dialing it if there is
// none. A changed host key is permanent; anything else (the bastion or
// sshd not up yet, keys not installed yet on a booting host) is retried.
func (h *hostConn) connect(ctx context.Context) (*ssh.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.client != nil {
		return h.client, nil
	}
	conn, err := h.bastion.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	h.dials++
	var mismatch *GitLabHostKeyError
	config := &ssh.ClientConfig{
		User: h.user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(h.signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			fp := ssh.FingerprintSHA256(key)
			if h.trusted != "" && h.trusted != fp {
				mismatch = &GitLabHostKeyError{Addr: h.addr, InstanceID: h.instanceID, Want: h.trusted, Got: fp}
				return mismatch
			}
			h.trusted = fp
			return nil
		},
		ClientVersion: "SSH-2.0-gitlabwait",
	}
	// A channel through the bastion has no deadlines: closing it is what
	// interrupts a handshake that ctx cuts short.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, h.addr, config)
	if !stop() {
		if err == nil {
			_ = c.Close()
		}
		return nil, ctx.Err()
	}
	switch {
	case mismatch != nil:
		_ = conn.Close()
		return nil, permanent(mismatch)
	case err != nil && strings.Contains(err.Error(), "unable to authenticate"):
		_ = conn.Close()
		return nil, fmt.Errorf("the GitLab host at %s refused the SSH key for user %q (retried: a booting host installs the project's IAM SSH keys "+
			"in root's authorized_keys shortly after sshd starts; if this lasts, register the automation public key as an IAM SSH key of the project "+
			"before the server is created): %w", h.addr, h.user, err)
	case err != nil:
		_ = conn.Close()
		return nil, fmt.Errorf("ssh to the GitLab host at %s: %w", h.addr, err)
	}
	client := ssh.NewClient(c, chans, reqs)
	h.client = client
	go h.keepAlive(client)
	return client, nil
}

// keepAlive sends keepalives on client until it closes, and drops it when
// one goes unanswered, so the next session connects again instead of hanging.
func (h *hostConn) keepAlive(client *ssh.Client) {
	closed := make(chan struct{})
	go func() { _ = client.Wait(); close(closed) }()
	t := time.NewTicker(hostKeepAlive)
	defer t.Stop()
	for {
		select {
		case <-closed:
			return
		case <-t.C:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		select {
		case err := <-answered:
			if err == nil {
				continue
			}
		case <-time.After(hostKeepAlive):
		case <-closed:
			return
		}
		h.drop(client)
		return
	}
}

// drop closes client and forgets it, if it is still the current one.
func (h *hostConn) drop(client *ssh.Client) {
	h.mu.Lock()
	if h.client == client {
		h.client = nil
	}
	h.mu.Unlock()
	_ = client.Close()
}

// Close closes the connection to the host.
func (h *hostConn) Close() {
	h.mu.Lock()
	client := h.client
	h.client = nil
	h.mu.Unlock()
	if client != nil {
		_ = client.Close()
	}
}

// commandError is a command that ran on the host and exited non-zero.
type commandError struct {
	what   string
	code   int
	stderr string
}

func (e *commandError) Error() string {
	msg := fmt.Sprintf("%s exited with status %d", e.what, e.code)
	if s := strings.TrimSpace(e.stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

// run runs cmd in one session with stdin, bounded by ctx, and returns its
// standard output. A command that exits non-zero is a *commandError; any
// other failure drops the connection, so the next run connects again.
func (h *hostConn) run(ctx context.Context, what, cmd string, stdin []byte) ([]byte, error) {
	client, err := h.connect(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := client.NewSession()
	if err != nil {
		h.drop(client)
		return nil, fmt.Errorf("%s: open a session on the GitLab host: %w", what, err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}
	// The session cannot be interrupted but by closing the connection.
	stop := context.AfterFunc(ctx, func() { h.drop(client) })
	err = sess.Run(cmd)
	if !stop() {
		return nil, fmt.Errorf("%s: %w", what, ctx.Err())
	}
	var exit *ssh.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.Bytes(), &commandError{what: what, code: exit.ExitStatus(), stderr: stderr.String()}
	case err != nil:
		h.drop(client)
		return nil, fmt.Errorf("%s: the SSH connection to the GitLab host dropped: %w", what, err)
	}
	return stdout.Bytes(), nil
}

// hostStatus is what one step of a run on the host saw.
type hostStatus struct {
	// Done is true once the apply exited 0.
	Done bool
	// Detail says where the run is while it is not done.
	Detail string
}

func (st hostStatus) verdict() (bool, string) { return st.Done, st.Detail }

func (hostStatus) summary() string { return "" }

// hostRun is one run of gitlab-kapsule-apply, from the upload to its exit.
type hostRun struct {
	conn  *hostConn
	id    string
	files []hostscripts.File
	now   func() time.Time
	// log receives each complete line of the run's log.
	log func(line string)

	sent    bool
	started bool
	offset  int64
	partial []byte
	tail    []string
}

// step makes one attempt: the upload and the start while the run has not
// started, else one poll. An apply that exited non-zero is permanent.
func (r *hostRun) step(ctx context.Context) (hostStatus, error) {
	if !r.started && !r.sent {
		return r.launch(ctx)
	}
	out, err := r.conn.run(ctx, "read the apply's status", pollCommand(r.id, r.offset), nil)
	if err != nil {
		return hostStatus{}, err
	}
	started, status, logBytes := parsePoll(out)
	r.lines(logBytes)
	switch {
	case !started:
		// No marker: this run never started since the host booted (the
		// start's answer was lost before it ran, or the host rebooted and
		// /run went with it). The apply is idempotent: start it (again).
		return r.launch(ctx)
	case status == "" || status == hostscripts.StatusRunning:
		r.started = true
		return hostStatus{Detail: "gitlab-kapsule-apply is running" + r.last()}, nil
	}
	r.started = true
	code, step, err := parseExit(status)
	if err != nil {
		return hostStatus{}, permanent(fmt.Errorf("the GitLab host's status file for run %s says %q: %w", r.id, status, err))
	}
	if code != 0 {
		// What the failed step printed through a pipe may land in the log
		// just after the status: read it once more, for the tail.
		if out, err := r.conn.run(ctx, "read the apply's log", pollCommand(r.id, r.offset), nil); err == nil {
			_, _, more := parsePoll(out)
			r.lines(more)
		}
		r.flush()
		return hostStatus{}, permanent(&ApplyError{Host: r.conn.addr, RunID: r.id, Step: step, Code: code, Tail: r.tail})
	}
	r.flush()
	return hostStatus{Done: true}, nil
}

// launch uploads the scripts and the payload, then starts the apply.
func (r *hostRun) launch(ctx context.Context) (hostStatus, error) {
	archive, err := uploadTar(r.files, r.now())
	if err != nil {
		return hostStatus{}, permanent(err)
	}
	if _, err := r.conn.run(ctx, "upload the host scripts", hostscripts.UploadCommand, archive); err != nil {
		var ce *commandError
		if errors.As(err, &ce) {
			return hostStatus{}, permanent(err)
		}
		return hostStatus{}, err
	}
	r.sent = true
	_, err = r.conn.run(ctx, "start gitlab-kapsule-apply", startCommand(r.id), nil)
	var ce *commandError
	switch {
	case errors.As(err, &ce):
		// The marker exists: an earlier start whose answer was lost.
		r.started = true
	case err != nil:
		// Lost with the connection: the next poll sees whether it ran.
		return hostStatus{}, err
	default:
		r.started = true
	}
	return hostStatus{Detail: "gitlab-kapsule-apply started"}, nil
}

// lines adds the log's new bytes, passing each complete line on.
func (r *hostRun) lines(b []byte) {
	r.offset += int64(len(b))
	r.partial = append(r.partial, b...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			return
		}
		r.line(string(r.partial[:i]))
		r.partial = r.partial[i+1:]
	}
}

// flush passes on a last line without its newline.
func (r *hostRun) flush() {
	if len(r.partial) > 0 {
		r.line(string(r.partial))
		r.partial = nil
	}
}

func (r *hostRun) line(l string) {
	l = strings.TrimRight(l, "\r")
	if r.log != nil {
		r.log(l)
	}
	r.tail = append(r.tail, l)
	if len(r.tail) > logTail {
		r.tail = r.tail[len(r.tail)-logTail:]
	}
}

// last is ", last: <the log's last line>", or "".
func (r *hostRun) last() string {
	if len(r.tail) == 0 {
		return ""
	}
	return " (log: " + r.tail[len(r.tail)-1] + ")"
}

// parsePoll splits a poll's output: the marker line, the status line, the log.
func parsePoll(out []byte) (started bool, status string, log []byte) {
	first, rest, _ := bytes.Cut(out, []byte("\n"))
	second, log, _ := bytes.Cut(rest, []byte("\n"))
	return string(first) == "started", strings.TrimSpace(string(second)), log
}

// parseExit reads "exit <n> <step>".
func parseExit(status string) (code int, step string, err error) {
	f := strings.Fields(status)
	if len(f) < 2 || f[0] != "exit" {
		return 0, "", errors.New(`want "running" or "exit <code> <step>"`)
	}
	code, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, "", errors.New(`want "exit <code> <step>" with a numeric code`)
	}
	if len(f) > 2 {
		step = f[2]
	}
	return code, step, nil
}

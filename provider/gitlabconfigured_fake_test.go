package provider

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
)

// fakeHost is an in-process SSH server on loopback standing in for the
// GitLab host's sshd, for the provider's side of the protocol with package
// hostscripts (hostssh.go): it understands the four kinds of sessions the
// provider opens and nothing else (any other command exits 127). An upload
// unpacks the tar into files; a start records the run and, instead of
// running gitlab-kapsule-apply, plays run: each poll reveals the next chunk
// of its log, and once every chunk is out the status is run.status. A look
// for earlier applies lists the runs still running (a script whose status
// is "running" runs for ever, as an apply the provider stopped waiting for
// goes on), as earlierCommand's shell does while such a run holds the
// apply's lock. The real scripts run against OpenSSH in tests/engine
// (harness.StartGitLabHost).
type fakeHost struct {
	t    testing.TB
	ln   net.Listener
	user string

	mu         sync.Mutex
	hostSigner ssh.Signer
	authorized ssh.PublicKey
	files      map[string]fakeFile
	// commands are the sessions' commands, in order.
	commands []string
	runs     map[string]*fakeRun
	// script is what the next run plays.
	script fakeScript
	// dropAfterPolls, when positive, closes every connection once that
	// many polls have been answered, once.
	dropAfterPolls int
	// rebootAfterPolls, when positive, forgets every run (/run is a tmpfs)
	// and drops every connection once that many polls have been answered, once.
	rebootAfterPolls int
	polls            int
	// settleAfterLooks, when positive, ends every run still running (exit
	// 0) once that many more looks for earlier applies have found one.
	settleAfterLooks int
	conns            []*ssh.ServerConn
}

// fakeFile is one file the uploads unpacked.
type fakeFile struct {
	mode    fs.FileMode
	content []byte
}

// fakeScript is what a run writes: its log in chunks, one more at each poll,
// then its final status line.
type fakeScript struct {
	chunks []string
	status string
}

type fakeRun struct {
	script   fakeScript
	revealed int
	payload  string
}

// running tells whether the run has not exited yet.
func (r *fakeRun) running() bool {
	return r.revealed < len(r.script.chunks) || r.script.status == hostscripts.StatusRunning
}

// log is what the run has written so far.
func (r *fakeRun) log() string {
	return strings.Join(r.script.chunks[:r.revealed], "")
}

func newFakeHost(t testing.TB, clientKey ssh.PublicKey) *fakeHost {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{t: t, ln: ln, user: "root", hostSigner: newSigner(t), authorized: clientKey,
		files: map[string]fakeFile{}, runs: map[string]*fakeRun{},
		script: fakeScript{chunks: []string{"gitlab-kapsule-apply: start: run started\n", "gitlab-kapsule-apply: install: start\n"}, status: "exit 0 finish"}}
	t.Cleanup(func() {
		_ = ln.Close()
		h.dropAll()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.serve(c)
		}
	}()
	return h
}

// port is the sshPort input.
func (h *fakeHost) port() int { return h.ln.Addr().(*net.TCPAddr).Port }

// fingerprint is the host key's SHA256 fingerprint.
func (h *fakeHost) fingerprint() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return ssh.FingerprintSHA256(h.hostSigner.PublicKey())
}

// rotateHostKey gives the host a new key, as a reinstalled server has.
func (h *fakeHost) rotateHostKey() {
	h.mu.Lock()
	h.hostSigner = newSigner(h.t)
	h.mu.Unlock()
}

// sessions returns the commands run so far, and forgets them.
func (h *fakeHost) sessions() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.commands
	h.commands = nil
	return c
}

// file returns an uploaded file.
func (h *fakeHost) file(path string) (fakeFile, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.files[path]
	return f, ok
}

func (h *fakeHost) dropAll() {
	h.mu.Lock()
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (h *fakeHost) serve(nc net.Conn) {
	h.mu.Lock()
	signer := h.hostSigner
	h.mu.Unlock()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() == h.user && bytes.Equal(key.Marshal(), h.authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(signer)
	conn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	h.mu.Lock()
	h.conns = append(h.conns, conn)
	h.mu.Unlock()
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go h.session(ch, creqs)
	}
}

func (h *fakeHost) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var exec struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &exec); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		code := h.exec(exec.Command, ch)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
		return
	}
}

var (
	startRE = regexp.MustCompile(`^mkdir /run/gitlab-kapsule/([a-z0-9-]+)\.started && setsid -f /usr/local/sbin/gitlab-kapsule-apply (\S+) ([a-z0-9-]+) </dev/null >/dev/null 2>&1$`)
	pollRE  = regexp.MustCompile(`^printf '%s\\n' "\$\(test -d /run/gitlab-kapsule/([a-z0-9-]+)\.started && echo started\)" "\$\(head -n 1 /run/gitlab-kapsule/[a-z0-9-]+\.status 2>/dev/null\)"; tail -c \+(\d+) /var/log/gitlab-kapsule/apply-[a-z0-9-]+\.log 2>/dev/null; true$`)
)

// exec runs one command and returns its exit status.
func (h *fakeHost) exec(cmd string, ch ssh.Channel) int {
	h.mu.Lock()
	h.commands = append(h.commands, cmd)
	h.mu.Unlock()
	switch {
	case cmd == hostscripts.UploadCommand:
		return h.upload(ch)
	case startRE.MatchString(cmd):
		m := startRE.FindStringSubmatch(cmd)
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.runs[m[1]]; ok {
			fmt.Fprintf(ch.Stderr(), "mkdir: cannot create directory '/run/gitlab-kapsule/%s.started': File exists\n", m[1])
			return 1
		}
		if m[1] != m[3] || m[2] != hostscripts.PayloadPath(m[1]) {
			fmt.Fprintln(ch.Stderr(), "run id and payload do not match")
			return 2
		}
		h.runs[m[1]] = &fakeRun{script: h.script, payload: m[2]}
		return 0
	case pollRE.MatchString(cmd):
		m := pollRE.FindStringSubmatch(cmd)
		from, _ := strconv.Atoi(m[2])
		_, _ = io.WriteString(ch, h.poll(m[1], from-1))
		return 0
	case cmd == earlierCommand():
		_, _ = io.WriteString(ch, h.earlier())
		return 0
	}
	fmt.Fprintf(ch.Stderr(), "fake host: unknown command %q\n", cmd)
	return 127
}

func (h *fakeHost) upload(ch ssh.Channel) int {
	tr := tar.NewReader(ch)
	got := map[string]fakeFile{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(ch.Stderr(), "tar: %v\n", err)
			return 2
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			fmt.Fprintf(ch.Stderr(), "tar: %v\n", err)
			return 2
		}
		if hdr.Uname != "root" || hdr.Gname != "root" {
			fmt.Fprintf(ch.Stderr(), "tar: %s is not root's\n", hdr.Name)
			return 2
		}
		got["/"+hdr.Name] = fakeFile{mode: fs.FileMode(hdr.Mode).Perm(), content: content}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, v := range got {
		h.files[k] = v
	}
	return 0
}

// poll answers as pollCommand's shell would: marker, status, log from offset.
func (h *fakeHost) poll(runID string, offset int) string {
	h.mu.Lock()
	h.polls++
	drop := h.dropAfterPolls > 0 && h.polls >= h.dropAfterPolls
	if drop {
		h.dropAfterPolls = 0
	}
	if h.rebootAfterPolls > 0 && h.polls >= h.rebootAfterPolls {
		h.rebootAfterPolls = 0
		h.runs = map[string]*fakeRun{}
		h.mu.Unlock()
		h.dropAll()
		return ""
	}
	run, ok := h.runs[runID]
	var out string
	if !ok {
		out = "\n\n"
	} else {
		if run.revealed < len(run.script.chunks) {
			run.revealed++
		}
		log := run.log()
		status := "running"
		if run.revealed == len(run.script.chunks) {
			status = run.script.status
		}
		out = "started\n" + status + "\n" + log[min(offset, len(log)):]
	}
	h.mu.Unlock()
	if drop {
		// The answer is lost with the connection, as a dropped one's is.
		h.dropAll()
	}
	return out
}

// earlier answers as earlierCommand's shell would: "<runID> <last log
// line>" for each run still running, in the order of their ids.
func (h *fakeHost) earlier() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := slices.Sorted(maps.Keys(h.runs))
	var out strings.Builder
	for _, id := range ids {
		if run := h.runs[id]; run.running() {
			lines := strings.Split(strings.TrimSuffix(run.log(), "\n"), "\n")
			fmt.Fprintf(&out, "%s %s\n", id, lines[len(lines)-1])
		}
	}
	if out.Len() == 0 {
		return ""
	}
	if h.settleAfterLooks > 0 {
		if h.settleAfterLooks--; h.settleAfterLooks > 0 {
			return out.String()
		}
		for _, run := range h.runs {
			run.revealed, run.script.status = len(run.script.chunks), hostscripts.StatusDone
		}
	}
	return out.String()
}

// fakeGitLabAPI answers the readiness endpoint ready, and /api/v4/version
// (GitLab's REST API, doc/api/version.md) 200 with a version to the token
// it holds, 401 to any other, as GitLab answers a wrong PRIVATE-TOKEN.
type fakeGitLabAPI struct {
	mu    sync.Mutex
	token string
	asked []string
}

func (g *fakeGitLabAPI) setToken(token string) {
	g.mu.Lock()
	g.token = token
	g.mu.Unlock()
}

func (g *fakeGitLabAPI) requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.asked...)
}

func (g *fakeGitLabAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.asked = append(g.asked, r.URL.Path)
	token := g.token
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/-/readiness":
		_, _ = io.WriteString(w, `{"status":"ok","master_check":[{"status":"ok"}]}`)
	case "/api/v4/version":
		if r.Header.Get("PRIVATE-TOKEN") != token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"401 Unauthorized"}`)
			return
		}
		_, _ = io.WriteString(w, `{"version":"18.5.2","revision":"abc"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

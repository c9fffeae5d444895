package bootstrap

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/cloudinit"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
	"github.com/stretchr/testify/require"
)

// throwaway are the paths the sandbox may write: each is a fresh directory
// (or file) of the test's, bound over the host's. Everything else the
// sandbox sees of the host is read-only.
var throwaway = map[string]fs.FileMode{
	"/etc/gitlab":               0o755,
	"/etc/gitlab-bootstrap":     0o755,
	"/etc/apt":                  0o755,
	"/var/lib/gitlab-bootstrap": 0o755,
	"/var/opt/gitlab":           0o755,
	"/opt/gitlab":               0o755,
	"/usr/local/sbin":           0o755,
	"/usr/local/bin":            0o755,
	"/usr/share/keyrings":       0o755,
	"/root":                     0o700,
	// Files: the git user and group appear only when the package is installed.
	"/etc/passwd": 0o644,
	"/etc/group":  0o644,
}

// hostTop are the host's top-level entries the sandbox sees (read-only,
// except the throwaway paths beneath them); /proc, /dev, /tmp and /run are
// its own. The rest of the host (its home directories, /work, ...) is not there.
var hostTop = []string{"bin", "etc", "lib", "lib32", "lib64", "libx32", "opt", "sbin", "usr", "var"}

// The PATH cloud-init's runcmd gets from systemd, behind the stand-ins.
const sandboxPATH = "/standin/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// sandbox is a throwaway host: bwrap with its own mount, PID, IPC, UTS and
// network namespaces (only loopback), running as root with root's
// capabilities (no user namespace, so files can belong to root and git).
type sandbox struct {
	t     *testing.T
	dir   string // the test's directory on the host
	fs    string // dir/fs: what the throwaway paths are bound from
	bwrap string
	args  []string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	bwrap := testenv.Tool(t, "bwrap", "apt-get install bubblewrap")
	chpst := testenv.Tool(t, "chpst", "apt-get install runit")
	testenv.Tool(t, "ruby", "apt-get install ruby")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root", "run as root: the sandbox keeps root's capabilities to chown files to root and git")
	}
	dir := t.TempDir()
	s := &sandbox{t: t, dir: dir, fs: filepath.Join(dir, "fs"), bwrap: bwrap}

	for p, mode := range throwaway {
		h := s.fs + p
		require.NoError(t, os.MkdirAll(filepath.Dir(h), 0o755))
		if p == "/etc/passwd" || p == "/etc/group" {
			require.NoError(t, os.WriteFile(h, withoutGit(t, p), mode))
			continue
		}
		require.NoError(t, os.Mkdir(h, mode))
		require.NoError(t, os.Chmod(h, mode))
	}
	require.NoError(t, os.Mkdir(s.fs+"/etc/apt/sources.list.d", 0o755))

	// The stand-ins, and the package apt-get "unpacks": its chpst is the
	// host's runit chpst, the program Omnibus builds (config/software/runit.rb).
	standin := filepath.Join(dir, "standin")
	copyTree(t, "testdata/standin", standin)
	require.NoError(t, os.Symlink(chpst, filepath.Join(standin, "pkg/opt/gitlab/embedded/bin/chpst")))
	log := filepath.Join(standin, "log")
	require.NoError(t, os.Mkdir(log, 0o755))
	require.NoError(t, os.Chmod(log, 0o777|fs.ModeSticky)) // written by root and git

	s.args = []string{
		"--die-with-parent", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "gitlab",
		"--clearenv", "--setenv", "PATH", sandboxPATH, "--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8",
		"--proc", "/proc", "--dev", "/dev", "--perms", "01777", "--tmpfs", "/tmp", "--tmpfs", "/run",
	}
	s.args = append(s.args, s.mounts("/")...)
	s.args = append(s.args, "--ro-bind", standin, "/standin", "--bind", log, "/standin/log")
	return s
}

// withoutGit is the host's passwd or group file less any git entry.
func withoutGit(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(line, "git:") {
			out = append(out, line)
		}
	}
	return []byte(strings.Join(out, ""))
}

// copyTree copies the stand-ins: executables under bin/, plain files elsewhere.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if filepath.Base(filepath.Dir(p)) == "bin" {
			mode = 0o755
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			return err
		}
		return os.Chmod(dst, mode)
	}))
}

// mounts returns bwrap's arguments that show the host's directory dir:
// entries read-only, throwaway paths bound from s.fs, and the directories
// above throwaway paths rebuilt entry by entry (so their mount points can be
// made in bwrap's own root).
func (s *sandbox) mounts(dir string) []string {
	entries, err := os.ReadDir(dir)
	require.NoError(s.t, err)
	var args []string
	seen := map[string]bool{}
	for _, e := range entries {
		if dir == "/" && !slices.Contains(hostTop, e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		seen[p] = true
		args = append(args, s.mount(p)...)
	}
	var missing []string
	for p := range throwaway {
		if filepath.Dir(p) == dir && !seen[p] {
			missing = append(missing, p)
		}
	}
	slices.Sort(missing)
	for _, p := range missing {
		args = append(args, "--bind", s.fs+p, p)
	}
	return args
}

func (s *sandbox) mount(p string) []string {
	if _, ok := throwaway[p]; ok {
		return []string{"--bind", s.fs + p, p}
	}
	info, err := os.Lstat(p)
	require.NoError(s.t, err)
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		require.NoError(s.t, err)
		return []string{"--symlink", target, p}
	case aboveThrowaway(p):
		require.True(s.t, info.IsDir(), "%s holds throwaway paths but is no directory", p)
		return append([]string{"--perms", fmt.Sprintf("%04o", info.Mode().Perm()), "--dir", p}, s.mounts(p)...)
	case info.IsDir() || info.Mode().IsRegular():
		return []string{"--ro-bind", p, p}
	default: // sockets, pipes, devices
		return nil
	}
}

func aboveThrowaway(p string) bool {
	for q := range throwaway {
		if p == "/" || strings.HasPrefix(q, p+"/") {
			return true
		}
	}
	return false
}

// host is where a sandbox path lives on the host: under a throwaway path,
// or under /standin (the stand-ins and their records in /standin/log).
func (s *sandbox) host(p string) string {
	s.t.Helper()
	if p == "/standin" || strings.HasPrefix(p, "/standin/") {
		return filepath.Join(s.dir, p)
	}
	for q := range throwaway {
		if p == q || strings.HasPrefix(p, q+"/") {
			return s.fs + p
		}
	}
	s.t.Fatalf("%s is outside the sandbox's throwaway paths: the host would not get it", p)
	return ""
}

// run runs argv in the sandbox and returns its combined output.
func (s *sandbox) run(argv ...string) (string, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.bwrap, append(slices.Clone(s.args), argv...)...).CombinedOutput()
	s.t.Logf("sandbox: %s\n%s", strings.Join(argv, " "), out)
	return string(out), err
}

// writeFiles does what cloud-init's write_files does (cloudinit/config/cc_write_files.py,
// util.write_file): missing directories made 0755, the content written, then
// chmod to permissions and chown to owner, whose names are looked up in the
// sandbox's own passwd and group.
func (s *sandbox) writeFiles(files []cloudinit.WriteFile) {
	s.t.Helper()
	for _, f := range files {
		h := s.host(f.Path)
		s.mkdirs(filepath.Dir(f.Path))
		mode, err := strconv.ParseUint(f.Permissions, 8, 32)
		require.NoError(s.t, err, "permissions of %s", f.Path)
		user, group, _ := strings.Cut(f.Owner, ":")
		uid, ok := s.id("/etc/passwd", user)
		require.True(s.t, ok, "%s: no user %s", f.Path, user)
		gid, ok := s.id("/etc/group", group)
		require.True(s.t, ok, "%s: no group %s", f.Path, group)
		require.NoError(s.t, os.WriteFile(h, []byte(f.Content), 0o644))
		require.NoError(s.t, os.Chmod(h, fs.FileMode(mode)))
		require.NoError(s.t, os.Chown(h, uid, gid))
	}
}

func (s *sandbox) mkdirs(dir string) {
	h := s.host(dir)
	if _, err := os.Stat(h); err == nil {
		return
	}
	s.mkdirs(filepath.Dir(dir))
	require.NoError(s.t, os.Mkdir(h, 0o755))
	require.NoError(s.t, os.Chmod(h, 0o755))
}

// writeRuncmd writes runcmd as cloud-init's util.shellify does, where
// cloud-init would run it from (its scripts-user module runs the file itself).
func (s *sandbox) writeRuncmd(runcmd [][]string) string {
	s.t.Helper()
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	for _, cmd := range runcmd {
		quoted := make([]string, len(cmd))
		for i, a := range cmd {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		b.WriteString(strings.Join(quoted, " ") + "\n")
	}
	const path = "/root/runcmd"
	require.NoError(s.t, os.WriteFile(s.host(path), []byte(b.String()), 0o700))
	return path
}

// id looks name up in the sandbox's passwd or group file.
func (s *sandbox) id(file, name string) (int, bool) {
	s.t.Helper()
	f, err := os.Open(s.host(file))
	require.NoError(s.t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 && fields[0] == name {
			n, err := strconv.Atoi(fields[2])
			require.NoError(s.t, err)
			return n, true
		}
	}
	return 0, false
}

// stat returns a sandbox file's permissions and owner.
func (s *sandbox) stat(p string) (fs.FileMode, int, int) {
	s.t.Helper()
	info, err := os.Stat(s.host(p))
	require.NoError(s.t, err)
	st := info.Sys().(*syscall.Stat_t)
	return info.Mode().Perm(), int(st.Uid), int(st.Gid)
}

func (s *sandbox) exists(p string) bool {
	s.t.Helper()
	_, err := os.Lstat(s.host(p))
	if err != nil {
		require.ErrorIs(s.t, err, fs.ErrNotExist)
		return false
	}
	return true
}

func (s *sandbox) read(p string) string {
	s.t.Helper()
	b, err := os.ReadFile(s.host(p))
	require.NoError(s.t, err)
	return string(b)
}

func (s *sandbox) write(p, content string, mode fs.FileMode) {
	s.t.Helper()
	require.NoError(s.t, os.WriteFile(s.host(p), []byte(content), mode))
	require.NoError(s.t, os.Chmod(s.host(p), mode))
}

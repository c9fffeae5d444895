package harness

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"golang.org/x/crypto/ssh"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
)

// The stand-ins the GitLab host runs instead of GitLab, apt and the block
// devices; each file says what it mimics and where that is documented.
//
//go:embed gitlabhost
var gitlabHostFiles embed.FS

// The S3 stand-in's bucket, region and key pair; requests signed otherwise are refused.
const (
	S3Bucket    = "glk-test-gitlab-backups"
	S3Region    = "fr-par"
	S3AccessKey = "test-s3-access-key"
	S3SecretKey = "test-secret-key-0000-0000-0000-0000"
)

// GitLabHost stands in for the GitLab host: a real OpenSSH sshd on loopback
// that runs, as root, inside a bubblewrap sandbox (its own mount, PID, IPC
// and UTS namespaces, the host's network so loopback is shared) where GitLab's
// paths, /etc/apt, /usr/local, /mnt and /run are throwaway and kept between
// sessions, so a command started with setsid -f outlives its session as on
// a real host. gitlab-ctl, gitlab-backup, gitlab-rake, gitlab-rails,
// apt-get, dpkg-query, blkid, mkfs.ext4, mount, systemctl, gpg, curl, df,
// blockdev, dumpe2fs and resize2fs are stand-ins
// (tests/harness/gitlabhost/bin) that append "<name> <args>" to a call log.
// The data volume is a stand-in SCSI disk, /dev/sdb, linked from
// /dev/disk/by-id as udev links it, with the kernel's view of its size in
// /sys/block/sdb (see GrowDataVolume). Beside it runs an S3 server (gofakes3) over TLS on
// loopback, trusted by the sandbox's CA bundle, which checks each request's
// AWS Signature Version 4 against S3AccessKey/S3SecretKey.
type GitLabHost struct {
	t        testing.TB
	dir      string // the test's directory
	fs       string // dir/fs: the throwaway paths
	port     int
	volumeID string
	cmd      *exec.Cmd
	exited   chan struct{}
	child    int // sshd's pid (in the test's PID namespace)
	hostKey  ssh.PublicKey
	signer   ssh.Signer // the harness's own client key
	log      SyncBuffer

	s3      *httptest.Server
	s3mem   *s3mem.Backend
	s3mu    sync.Mutex
	s3reqs  []string
	s3fails []string
	s3parts map[string]map[int]int64 // uploadId: part number: size

	opts gitlabHostOptions
}

// DefaultDataVolumeBytes is the stand-in data volume's size unless
// WithDataVolumeSize says otherwise: gitlabHost:dataVolumeSizeGb's default,
// 100 GB (Scaleway sizes volumes in GB of 10^9 bytes). Nothing of it is
// allocated: the stand-in filesystem only counts what is stored.
const DefaultDataVolumeBytes = 100_000_000_000

// GitLabHostOption changes the stand-in host StartGitLabHost makes.
type GitLabHostOption func(*gitlabHostOptions)

type gitlabHostOptions struct {
	volumeBytes int64
	noGnuPG     bool
}

// WithDataVolumeSize makes the data volume bytes large.
func WithDataVolumeSize(bytes int64) GitLabHostOption {
	return func(o *gitlabHostOptions) { o.volumeBytes = bytes }
}

// WithoutGnuPG makes a host whose first boot did not install gnupg: no gpg
// on the PATH (the host's /usr/bin/gpg is hidden too) until the stand-in
// apt-get installs the gnupg package.
func WithoutGnuPG() GitLabHostOption {
	return func(o *gitlabHostOptions) { o.noGnuPG = true }
}

// gitlabHostThrowaway are the sandbox's writable paths, each bound from the
// test's directory: directories with their mode, or files.
var gitlabHostThrowaway = map[string]fs.FileMode{
	"/etc/gitlab":             0o775,
	"/etc/gitlab-kapsule":     0o755,
	"/etc/apt":                0o755,
	"/etc/systemd/system":     0o755,
	"/usr/local":              0o755,
	"/usr/share/keyrings":     0o755,
	"/opt/gitlab":             0o755,
	"/var/opt/gitlab":         0o755,
	"/var/log/gitlab-kapsule": 0o755,
	"/var/lib/glk-standin":    0o755,
	"/mnt":                    0o755,
	"/root":                   0o700,
}

// gitlabHostFiles are throwaway files: GitLab's git user and group are
// added by the stand-in reconfigure, fstab by the scripts, and the CA
// bundle also trusts the S3 stand-in.
var gitlabHostThrowawayFiles = []string{"/etc/passwd", "/etc/group", "/etc/fstab", "/etc/ssl/certs/ca-certificates.crt"}

var gitlabHostTop = []string{"bin", "etc", "lib", "lib32", "lib64", "libx32", "opt", "sbin", "usr", "var"}

// StartGitLabHost starts the sandboxed sshd and the S3 stand-in for t and
// stops both when t ends. It needs root (files owned by root and git, mounts),
// bwrap, sshd, runit's chpst, ruby and systemd-analyze; without them the test
// skips, or fails under GLK_STRICT/CI.
func StartGitLabHost(t testing.TB, options ...GitLabHostOption) *GitLabHost {
	t.Helper()
	bwrap := testenv.Tool(t, "bwrap", "apt-get install bubblewrap")
	sshd := testenv.Tool(t, "sshd", sshdHow)
	testenv.Tool(t, "chpst", "apt-get install runit")
	testenv.Tool(t, "ruby", "apt-get install ruby")
	// The scripts check a backup schedule with it, as on the real host.
	testenv.Tool(t, "systemd-analyze", "apt-get install systemd")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root", "run as root: the GitLab host sandbox keeps root's capabilities to own files as root and git and to mount")
	}
	if !filepath.IsAbs(sshd) {
		abs, err := filepath.Abs(sshd)
		if err != nil {
			t.Fatal(err)
		}
		sshd = abs
	}
	dir := t.TempDir()
	h := &GitLabHost{t: t, dir: dir, fs: filepath.Join(dir, "fs"), volumeID: newUUID(t), s3parts: map[string]map[int]int64{}}
	h.opts.volumeBytes = DefaultDataVolumeBytes
	for _, o := range options {
		o(&h.opts)
	}
	h.log.Limit = 1 << 20
	h.startS3(t)
	h.layout(t)
	h.keys(t)
	h.port = FreePort(t)
	h.writeSSHDConfig(t, sshd)
	h.start(t, bwrap, sshd)
	t.Cleanup(func() {
		h.stop()
		h.s3.Close()
		if t.Failed() {
			t.Logf("GitLab host sshd log:\n%s", h.log.String())
		}
	})
	return h
}

// Addr is the "127.0.0.1:port" of the host's sshd, as reached through the
// bastion (tests/harness/sshd.go forwards to loopback) or directly.
func (h *GitLabHost) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)) }

// HostKey is the sshd's host key; HostKeyFingerprint its SHA256 fingerprint.
func (h *GitLabHost) HostKey() ssh.PublicKey     { return h.hostKey }
func (h *GitLabHost) HostKeyFingerprint() string { return ssh.FingerprintSHA256(h.hostKey) }

// DataVolumeID is the data volume's id, zoned as Pulumi gives it; its
// device is /dev/disk/by-id/scsi-0SCW_sbs_volume-<uuid>, empty until formatted.
func (h *GitLabHost) DataVolumeID() string { return "fr-par-1/" + h.volumeID }

// AuthorizeKey lets pub log in as root.
func (h *GitLabHost) AuthorizeKey(pub ssh.PublicKey) {
	h.t.Helper()
	f, err := os.OpenFile(filepath.Join(h.dir, "standin", "ssh", "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(ssh.MarshalAuthorizedKey(pub)); err != nil {
		h.t.Fatal(err)
	}
}

// GrowDataVolume resizes the data volume to bytes, as Scaleway's API does
// for a grown gitlabHost:dataVolumeSizeGb: the disk's capacity changes, and
// the kernel sees it (/sys/block/sdb/size, what blockdev and resize2fs
// read) only once someone writes 1 to /sys/block/sdb/device/rescan.
func (h *GitLabHost) GrowDataVolume(bytes int64) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, "cloud", "sdb.capacity"), []byte(strconv.FormatInt(bytes, 10)+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
	// Written since the capacity changed: none yet.
	if err := os.WriteFile(filepath.Join(h.dir, "sys-block", "sdb", "device", "rescan"), nil, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// SetCurlVersion makes the host's curl report version (curl --version) as
// that release would, e.g. 7.81.0, Ubuntu 22.04's; requests still go to
// the real curl.
func (h *GitLabHost) SetCurlVersion(version string) {
	h.t.Helper()
	if out, err := h.Exec("printf '%s\\n' " + shellWord(version) + " >/var/lib/glk-standin/curl-version"); err != nil {
		h.t.Fatalf("set curl's version: %v\n%s", err, out)
	}
}

// Archives are the archives the stand-in gitlab-backup made, "<ID> <sha256>", in order.
func (h *GitLabHost) Archives() []string { return h.lines(filepath.Join(h.dir, "log", "archives.log")) }

// Calls is the stand-ins' call log so far, in order: "<name> <args>".
func (h *GitLabHost) Calls() []string { return h.lines(filepath.Join(h.dir, "log", "calls.log")) }

// CommandLines are the command lines of every process in the sandbox, as
// ps would show them, snapshotted at each stand-in call.
func (h *GitLabHost) CommandLines() []string { return h.lines(filepath.Join(h.dir, "log", "ps.log")) }

// EnvRecords are the values stand-ins got in their environment, "<name>
// VAR=value" (root-only on the host, outside the sandbox's paths): which
// root password and token the scripts handed over.
func (h *GitLabHost) EnvRecords() []string {
	return h.lines(filepath.Join(h.dir, "secrets", "env.log"))
}

// File is the content of path as the sandbox sees it (through its mounts:
// /etc/gitlab on the data volume once bound), nil when it does not exist.
func (h *GitLabHost) File(path string) []byte {
	h.t.Helper()
	b, err := os.ReadFile(h.sandboxPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		h.t.Fatalf("read %s in the GitLab host: %v", path, err)
	}
	return b
}

// Stat is path's mode and owner (uid, gid) as the sandbox sees it.
func (h *GitLabHost) Stat(path string) (fs.FileMode, int, int, bool) {
	h.t.Helper()
	info, err := os.Lstat(h.sandboxPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, 0, false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return info.Mode(), int(st.Uid), int(st.Gid), true
}

// Walk calls fn for every regular file under root as the sandbox sees it.
func (h *GitLabHost) Walk(root string, fn func(path string, mode fs.FileMode, uid, gid int, content []byte)) {
	h.t.Helper()
	base := h.sandboxPath("/")
	err := filepath.WalkDir(h.sandboxPath(root), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(base, p)
		fn("/"+rel, info.Mode(), int(st.Uid), int(st.Gid), b)
		return nil
	})
	if err != nil {
		h.t.Fatalf("walk %s in the GitLab host: %v", root, err)
	}
}

// SetInstalledVersion makes the host run GitLab version (an Omnibus package
// version, 18.4.3-ce.0) without recording calls: on a host that never had
// GitLab, installed and configured with its data on the root volume, as a
// stack made before the data volume existed; otherwise only the installed
// version changes.
func (h *GitLabHost) SetInstalledVersion(version string) {
	h.t.Helper()
	if out, err := h.Exec("GLK_STANDIN_QUIET=1 glk-standin-preinstall " + shellWord(version)); err != nil {
		h.t.Fatalf("set the installed GitLab version to %s: %v\n%s", version, err, out)
	}
}

// Exec runs command as root in the sandbox, over SSH with the harness's own key.
func (h *GitLabHost) Exec(command string) (string, error) {
	h.t.Helper()
	c, err := h.Dial(h.signer)
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.CombinedOutput(command)
	return string(out), err
}

// Dial opens an SSH connection as root with signer, checking the host key.
func (h *GitLabHost) Dial(signer ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("tcp", h.Addr(), &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(h.hostKey),
		Timeout:         10 * time.Second,
	})
}

// S3URL is the S3 stand-in's base URL, https://127.0.0.1:port; S3Endpoint
// is its host:port, what the scripts take as the endpoint.
func (h *GitLabHost) S3URL() string      { return h.s3.URL }
func (h *GitLabHost) S3Endpoint() string { return strings.TrimPrefix(h.s3.URL, "https://") }

// S3Object is the object's content in S3Bucket, nil when absent.
func (h *GitLabHost) S3Object(key string) []byte {
	h.t.Helper()
	obj, err := h.s3mem.GetObject(S3Bucket, key, nil)
	if err != nil {
		return nil
	}
	defer obj.Contents.Close()
	b, err := io.ReadAll(obj.Contents)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// S3Keys lists S3Bucket's keys, sorted.
func (h *GitLabHost) S3Keys() []string {
	h.t.Helper()
	list, err := h.s3mem.ListBucket(S3Bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		h.t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	return keys
}

// PutS3Object stores an object in S3Bucket, as an earlier host would have.
func (h *GitLabHost) PutS3Object(key string, content []byte) {
	h.t.Helper()
	if _, err := h.s3mem.PutObject(S3Bucket, key, map[string]string{}, bytes.NewReader(content), int64(len(content)), nil); err != nil {
		h.t.Fatal(err)
	}
}

// S3Requests are the S3 stand-in's requests, "METHOD /bucket/key?query"
// (the query as sent), in order; S3Refused the ones refused, for a bad
// signature or what Object Storage would refuse, with the reason.
func (h *GitLabHost) S3Requests() []string {
	h.s3mu.Lock()
	defer h.s3mu.Unlock()
	return slices.Clone(h.s3reqs)
}

func (h *GitLabHost) S3Refused() []string {
	h.s3mu.Lock()
	defer h.s3mu.Unlock()
	return slices.Clone(h.s3fails)
}

func (h *GitLabHost) lines(path string) []string {
	h.t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func (h *GitLabHost) sandboxPath(p string) string {
	return filepath.Join("/proc", strconv.Itoa(h.child), "root", p)
}

// layout makes the throwaway paths, the stand-ins and the device.
func (h *GitLabHost) layout(t testing.TB) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for p, mode := range gitlabHostThrowaway {
		must(os.MkdirAll(h.fs+p, 0o755))
		must(os.Chmod(h.fs+p, mode))
	}
	for _, d := range []string{"/etc/apt/sources.list.d", "/usr/local/bin", "/usr/local/sbin", "/usr/local/lib", "/var/lib/glk-standin/volumes"} {
		must(os.MkdirAll(h.fs+d, 0o755))
	}
	for _, p := range gitlabHostThrowawayFiles {
		must(os.MkdirAll(filepath.Dir(h.fs+p), 0o755))
		var content []byte
		switch p {
		case "/etc/passwd", "/etc/group":
			content = withoutUser(t, p, "git")
		case "/etc/fstab":
			content = []byte("# /etc/fstab of the GitLab host stand-in\n")
		case "/etc/ssl/certs/ca-certificates.crt":
			host, err := os.ReadFile(p)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			content = append(host, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.s3.Certificate().Raw})...)
		}
		must(os.WriteFile(h.fs+p, content, 0o644))
	}
	// The stand-ins go to /usr/local/bin, ahead of /usr/bin on root's PATH
	// (sshd's default for root); their library to /standin/lib.
	standin := filepath.Join(h.dir, "standin")
	must(os.MkdirAll(filepath.Join(standin, "lib"), 0o755))
	// Every stand-in also in /standin/bin, where the stand-in apt-get
	// installs a package's command from.
	must(os.MkdirAll(filepath.Join(standin, "bin"), 0o755))
	must(os.MkdirAll(filepath.Join(standin, "ssh"), 0o755))
	// Mount points of the writable log and secrets directories.
	must(os.MkdirAll(filepath.Join(standin, "log"), 0o755))
	must(os.MkdirAll(filepath.Join(standin, "secrets"), 0o700))
	must(fs.WalkDir(gitlabHostFiles, "gitlabhost", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := gitlabHostFiles.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "gitlabhost/")
		if dir, name := filepath.Split(rel); dir == "bin/" {
			for _, dst := range []string{h.fs + "/usr/local/bin/" + name, filepath.Join(standin, "bin", name)} {
				if name == "gpg" && h.opts.noGnuPG && strings.HasPrefix(dst, h.fs) {
					continue // gnupg is not installed
				}
				if err := os.WriteFile(dst, b, 0o755); err != nil {
					return err
				}
				if err := os.Chmod(dst, 0o755); err != nil {
					return err
				}
			}
			return nil
		}
		return os.WriteFile(filepath.Join(standin, rel), b, 0o644)
	}))
	for _, d := range []string{"log", "secrets"} {
		must(os.Mkdir(filepath.Join(h.dir, d), 0o700))
	}
	// Written by root and, through gitlab-rails, by git.
	must(os.Chmod(filepath.Join(h.dir, "log"), 0o777|fs.ModeSticky))
	// The data volume: the disk /dev/sdb (empty: no filesystem), linked
	// from /dev/disk/by-id as udev's 60-persistent-storage rules link it; its
	// capacity on the cloud's side, and the kernel's view of it in sysfs
	// (Documentation/ABI/stable/sysfs-block: size in 512-byte sectors).
	must(os.MkdirAll(filepath.Join(h.dir, "dev"), 0o755))
	must(os.WriteFile(filepath.Join(h.dir, "dev", "sdb"), nil, 0o600))
	must(os.MkdirAll(filepath.Join(h.dir, "dev-by-id"), 0o755))
	must(os.Symlink("../../sdb", filepath.Join(h.dir, "dev-by-id", "scsi-0SCW_sbs_volume-"+h.volumeID)))
	must(os.MkdirAll(filepath.Join(h.dir, "cloud"), 0o755))
	must(os.MkdirAll(filepath.Join(standin, "cloud"), 0o755))
	must(os.WriteFile(filepath.Join(h.dir, "cloud", "sdb.capacity"), []byte(strconv.FormatInt(h.opts.volumeBytes, 10)+"\n"), 0o644))
	must(os.MkdirAll(filepath.Join(h.dir, "sys-block", "sdb", "device"), 0o755))
	must(os.WriteFile(filepath.Join(h.dir, "sys-block", "sdb", "size"), []byte(strconv.FormatInt(h.opts.volumeBytes/512, 10)+"\n"), 0o644))
	must(os.WriteFile(filepath.Join(h.dir, "sys-block", "sdb", "device", "rescan"), nil, 0o644))
}

// withoutUser is the host's passwd or group file less the user's entry.
func withoutUser(t testing.TB, path, user string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(line, user+":") {
			out = append(out, line)
		}
	}
	return []byte(strings.Join(out, ""))
}

// keys makes the host key and the harness's client key.
func (h *GitLabHost) keys(t testing.TB) {
	t.Helper()
	key, pub := newKey(t, "glk-gitlab-host")
	h.hostKey = pub
	sshDir := filepath.Join(h.dir, "standin", "ssh")
	if err := os.WriteFile(filepath.Join(sshDir, "host_ed25519"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if h.signer, err = ssh.ParsePrivateKey([]byte(BastionKey(t))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sshDir, "authorized_keys"), ssh.MarshalAuthorizedKey(h.signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeSSHDConfig writes sshd_config for the sandbox's paths, keeping only
// options this sshd knows (checked with sshd -t against the host's paths).
func (h *GitLabHost) writeSSHDConfig(t testing.TB, sshd string) {
	t.Helper()
	config := func(root string) func(penalties bool) []byte {
		return func(penalties bool) []byte {
			return sshdConfig(sshdOptions(h.port, root+"/ssh/host_ed25519", root+"/ssh/authorized_keys", "root",
				"AllowTcpForwarding no",
				"MaxSessions 50",
			), penalties)
		}
	}
	standin := filepath.Join(h.dir, "standin")
	path := filepath.Join(standin, "ssh", "sshd_config")
	penalties := writeSSHDConfig(t, sshd, path, "the GitLab host's configuration", config(standin))
	if err := os.WriteFile(path, config("/standin")(penalties), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs sshd in the sandbox and waits until it accepts connections.
func (h *GitLabHost) start(t testing.TB, bwrap, sshd string) {
	t.Helper()
	args := []string{
		"--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "gitlab",
		"--info-fd", "3",
		"--clearenv", "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8",
		"--proc", "/proc", "--dev", "/dev", "--perms", "01777", "--tmpfs", "/tmp",
		"--tmpfs", "/run", "--perms", "0755", "--dir", "/run/sshd",
	}
	args = append(args, h.mounts(t, "/")...)
	args = append(args,
		"--bind", filepath.Join(h.dir, "dev", "sdb"), "/dev/sdb",
		"--bind", filepath.Join(h.dir, "dev-by-id"), "/dev/disk/by-id",
		"--perms", "0755", "--dir", "/sys",
		"--bind", filepath.Join(h.dir, "sys-block"), "/sys/block",
		"--ro-bind", filepath.Join(h.dir, "standin"), "/standin",
		"--bind", filepath.Join(h.dir, "log"), "/standin/log",
		"--bind", filepath.Join(h.dir, "secrets"), "/standin/secrets",
		"--bind", filepath.Join(h.dir, "cloud"), "/standin/cloud",
		sshd, "-D", "-e", "-f", "/standin/ssh/sshd_config",
	)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bwrap, args...)
	cmd.Stdout, cmd.Stderr = &h.log, &h.log
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the GitLab host sandbox: %v", err)
	}
	_ = w.Close()
	h.cmd, h.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(h.exited) }()
	var info struct {
		ChildPid int `json:"child-pid"`
	}
	if err := json.NewDecoder(r).Decode(&info); err != nil {
		h.stop()
		t.Fatalf("bwrap gave no child pid: %v\n%s", err, h.log.String())
	}
	_ = r.Close()
	h.child = info.ChildPid
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", h.Addr(), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-h.exited:
			t.Fatalf("the GitLab host's sshd exited at start:\n%s", h.log.String())
		default:
		}
		if time.Now().After(deadline) {
			h.stop()
			t.Fatalf("the GitLab host's sshd does not listen on %s after 15s:\n%s", h.Addr(), h.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *GitLabHost) stop() {
	if h.cmd == nil {
		return
	}
	_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
	<-h.exited
	h.cmd = nil
}

// mounts returns bwrap's arguments that show the host's directory dir:
// entries read-only, throwaway paths bound from h.fs, and the directories
// above throwaway paths rebuilt entry by entry (as tests/bootstrap does).
func (h *GitLabHost) mounts(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	seen := map[string]bool{}
	for _, e := range entries {
		if dir == "/" && !slices.Contains(gitlabHostTop, e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		seen[p] = true
		args = append(args, h.mount(t, p)...)
	}
	var missing []string
	for _, p := range h.throwawayPaths() {
		if filepath.Dir(p) == dir && !seen[p] {
			missing = append(missing, p)
		}
	}
	slices.Sort(missing)
	for _, p := range missing {
		if aboveAny(p, h.throwawayPaths()) {
			args = append(args, "--perms", "0755", "--dir", p)
			args = append(args, h.mountsBelowMissing(p)...)
			continue
		}
		args = append(args, "--bind", h.fs+p, p)
	}
	return args
}

// mountsBelowMissing binds the throwaway paths under p, a directory the
// host does not have.
func (h *GitLabHost) mountsBelowMissing(p string) []string {
	var args []string
	for _, q := range h.throwawayPaths() {
		if filepath.Dir(q) == p {
			if aboveAny(q, h.throwawayPaths()) {
				args = append(args, "--perms", "0755", "--dir", q)
				args = append(args, h.mountsBelowMissing(q)...)
			} else {
				args = append(args, "--bind", h.fs+q, q)
			}
		}
	}
	return args
}

func (h *GitLabHost) mount(t testing.TB, p string) []string {
	t.Helper()
	throwaway := h.throwawayPaths()
	if slices.Contains(throwaway, p) {
		return []string{"--bind", h.fs + p, p}
	}
	if slices.Contains(h.hiddenPaths(), p) {
		return nil
	}
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--symlink", target, p}
	case aboveAny(p, append(throwaway, h.hiddenPaths()...)):
		if !info.IsDir() {
			t.Fatalf("%s holds throwaway paths but is no directory", p)
		}
		return append([]string{"--perms", fmt.Sprintf("%04o", info.Mode().Perm()), "--dir", p}, h.mounts(t, p)...)
	case info.IsDir() || info.Mode().IsRegular():
		return []string{"--ro-bind", p, p}
	default: // sockets, pipes, devices
		return nil
	}
}

func (h *GitLabHost) throwawayPaths() []string {
	var out []string
	for p := range gitlabHostThrowaway {
		out = append(out, p)
	}
	out = append(out, gitlabHostThrowawayFiles...)
	slices.Sort(out)
	return out
}

// hiddenPaths are the host's files the sandbox does not show.
func (h *GitLabHost) hiddenPaths() []string {
	if h.opts.noGnuPG {
		return []string{"/usr/bin/gpg"}
	}
	return nil
}

func aboveAny(p string, paths []string) bool {
	for _, q := range paths {
		if strings.HasPrefix(q, p+"/") {
			return true
		}
	}
	return false
}

// startS3 serves gofakes3 over TLS on loopback, behind a check of each
// request's AWS SigV4 signature.
func (h *GitLabHost) startS3(t testing.TB) {
	t.Helper()
	h.s3mem = s3mem.New()
	if err := h.s3mem.CreateBucket(S3Bucket); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(h.s3mem).Server()
	h.s3 = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		line := r.Method + " " + r.URL.RequestURI()
		h.s3mu.Lock()
		h.s3reqs = append(h.s3reqs, line)
		h.s3mu.Unlock()
		refuse := func(status int, code, reason string) {
			h.s3mu.Lock()
			h.s3fails = append(h.s3fails, line+": "+reason)
			h.s3mu.Unlock()
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, reason)
		}
		if reason := checkSigV4(r, body, S3AccessKey, S3SecretKey, S3Region); reason != "" {
			refuse(http.StatusForbidden, "SignatureDoesNotMatch", reason)
			return
		}
		if status, code, reason := h.objectStorageLimits(r, body); reason != "" {
			refuse(status, code, reason)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		fake.ServeHTTP(w, r)
	}))
}

// Object Storage's limits that gofakes3 v1.2.0 does not enforce (it takes
// parts of any size and up to 10,000 of them: gofakes3.go putMultipartUploadPart,
// uploader.go): one PUT of at most 5 GB (Scaleway docs-content
// pages/object-storage/faq.mdx, "How can I upload large objects?"); part
// numbers 1 to 1000, parts of 5 MB or more but the last (api-cli/multipart-uploads.mdx;
// S3 answers EntityTooSmall at CompleteMultipartUpload, AWS S3 API
// reference). 5 MB is taken as 5 MiB, as AWS states it.
const (
	s3MaxPut      = 5_000_000_000
	s3MaxParts    = 1000
	s3MinPartSize = 5 << 20
)

func (h *GitLabHost) objectStorageLimits(r *http.Request, body []byte) (int, string, string) {
	q := r.URL.Query()
	uploadID := q.Get("uploadId")
	switch {
	case r.Method == http.MethodPut && uploadID == "" && int64(len(body)) > s3MaxPut:
		return http.StatusBadRequest, "EntityTooLarge", "a single PUT of more than 5 GB"
	case r.Method == http.MethodPut && uploadID != "":
		n, err := strconv.Atoi(q.Get("partNumber"))
		if err != nil || n < 1 || n > s3MaxParts {
			return http.StatusBadRequest, "InvalidArgument", "part number " + q.Get("partNumber") + " is not 1 to 1000"
		}
		h.s3mu.Lock()
		if h.s3parts[uploadID] == nil {
			h.s3parts[uploadID] = map[int]int64{}
		}
		h.s3parts[uploadID][n] = int64(len(body))
		h.s3mu.Unlock()
	case r.Method == http.MethodPost && uploadID != "":
		var complete struct {
			Parts []struct {
				PartNumber int
			} `xml:"Part"`
		}
		if err := xml.Unmarshal(body, &complete); err != nil {
			return http.StatusBadRequest, "MalformedXML", err.Error()
		}
		h.s3mu.Lock()
		defer h.s3mu.Unlock()
		for i, p := range complete.Parts {
			if size := h.s3parts[uploadID][p.PartNumber]; i < len(complete.Parts)-1 && size < s3MinPartSize {
				return http.StatusBadRequest, "EntityTooSmall", fmt.Sprintf("part %d is %d bytes, under 5 MiB, and not the last", p.PartNumber, size)
			}
		}
	}
	return 0, "", ""
}

var sigV4Header = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$`)

// checkSigV4 verifies the request's AWS Signature Version 4 (AWS docs,
// "Create a signed AWS API request": canonical request, string to sign,
// the HMAC-SHA256 key chain "AWS4"+secret, date, region, service,
// "aws4_request"). It returns why the request is refused, or "".
func checkSigV4(r *http.Request, body []byte, accessKey, secretKey, region string) string {
	m := sigV4Header.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "no AWS4-HMAC-SHA256 Authorization header"
	}
	if m[1] != accessKey {
		return "unknown access key"
	}
	if m[3] != region {
		return "signed for region " + m[3] + ", not " + region
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if !strings.HasPrefix(amzDate, m[2]) {
		return "X-Amz-Date does not match the credential's date"
	}
	signed := strings.Split(m[4], ";")
	if !slices.Contains(signed, "host") || !slices.Contains(signed, "x-amz-date") {
		return "host and x-amz-date must be signed"
	}
	// S3 requires the header and signs with its value (AWS S3 API,
	// "Authenticating Requests (AWS Signature Version 4)", x-amz-content-sha256).
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	switch payloadHash {
	case "":
		return "no x-amz-content-sha256 header"
	case "UNSIGNED-PAYLOAD":
	default:
		sum := sha256.Sum256(body)
		if payloadHash != hex.EncodeToString(sum[:]) {
			return "x-amz-content-sha256 is not the body's SHA256"
		}
	}
	var headers strings.Builder
	for _, name := range signed {
		v := r.Header.Get(name)
		if name == "host" {
			v = r.Host
		}
		headers.WriteString(name + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	canonical := strings.Join([]string{
		r.Method,
		r.URL.EscapedPath(),
		canonicalQuery(r.URL.RawQuery),
		headers.String(),
		m[4],
		payloadHash,
	}, "\n")
	scope := m[2] + "/" + region + "/s3/aws4_request"
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + secretKey)
	for _, part := range []string{m[2], region, "s3", "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	if want := hex.EncodeToString(hmacSHA256(key, toSign)); !hmac.Equal([]byte(want), []byte(m[5])) {
		return "signature does not match"
	}
	return ""
}

func hmacSHA256(key []byte, data string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	return mac.Sum(nil)
}

// canonicalQuery sorts the query's parameters, each name=value URI-encoded
// (unreserved characters kept, space as %20).
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var pairs []string
	for _, part := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		pairs = append(pairs, awsEscape(k)+"="+awsEscape(v))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func awsEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func newUUID(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func shellWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

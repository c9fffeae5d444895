package deploy

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// backendSchemes are the URL schemes a Pulumi backend can have.
var backendSchemes = map[string]bool{
	"file": true, "s3": true, "gs": true, "azblob": true, "postgres": true, "https": true, "http": true,
}

// DefaultBackend returns the local file backend used when Options.Backend
// is empty, file://$HOME/.gitlab-kapsule/state, creating its folder.
func DefaultBackend() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%w: cannot find the home folder for the default file backend: set HOME or give a backend URL: %w", ErrBackend, err)
	}
	dir := filepath.Join(home, ".gitlab-kapsule", "state")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("%w: cannot create the state folder %s: %w", ErrBackend, dir, err)
	}
	return "file://" + filepath.ToSlash(dir), nil
}

// CheckBackend reports whether raw is a backend URL the Pulumi CLI can
// use, before anything runs: a known scheme, and for file:// an existing
// folder given by an absolute path (or one under ~).
func CheckBackend(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("%w: %q is not a URL: give file:///abs/path, s3://bucket, gs://bucket, azblob://container, postgres://... or https://api.pulumi.com", ErrBackend, redact(raw))
	}
	if !backendSchemes[u.Scheme] {
		return fmt.Errorf("%w: %q has the unknown scheme %q: use file, s3, gs, azblob, postgres or https", ErrBackend, redact(raw), u.Scheme)
	}
	if u.Scheme != "file" {
		if u.Host == "" {
			return fmt.Errorf("%w: %q names no bucket or host", ErrBackend, redact(raw))
		}
		return nil
	}
	dir, err := FileBackendDir(raw)
	if err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("%w: the state folder %s of %q does not exist: create it (mkdir -p %s) or fix the URL", ErrBackend, dir, raw, dir)
	}
	return nil
}

// FileBackendDir returns the folder of a file:// backend URL.
func FileBackendDir(raw string) (string, error) {
	p, ok := strings.CutPrefix(raw, "file://")
	if !ok {
		return "", fmt.Errorf("%w: %q is not a file:// URL", ErrBackend, redact(raw))
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%w: cannot expand ~ in %q: %w", ErrBackend, raw, err)
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	case !filepath.IsAbs(p):
		return "", fmt.Errorf("%w: %q is not an absolute path: write file:///abs/path (three slashes) or file://~/path", ErrBackend, raw)
	}
	return filepath.Clean(p), nil
}

// redact hides a password in a backend URL (postgres://user:pw@host).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

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
		return fmt.Errorf("%w: the state folder %s of %q does not exist: create it (mkdir -p %s) or fix the URL", ErrBackend, dir, redact(raw), dir)
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
			return "", fmt.Errorf("%w: cannot expand ~ in %q: %w", ErrBackend, redact(raw), err)
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	case !filepath.IsAbs(p):
		return "", fmt.Errorf("%w: %q is not an absolute path: write file:///abs/path (three slashes) or file://~/path", ErrBackend, redact(raw))
	}
	return filepath.Clean(p), nil
}

// redactedPassword stands for a backend URL's password in every message.
const redactedPassword = "xxxxx"

// redact hides the password of a backend URL (postgres://user:pw@host),
// also when the URL does not parse (a space or a bad %-escape in the
// password): then what follows the user name, up to the last "@" before
// the host, goes.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		if u.User == nil {
			return raw
		}
		if _, ok := u.User.Password(); !ok {
			return raw
		}
		u.User = url.UserPassword(u.User.Username(), redactedPassword)
		return u.String()
	}
	head, userinfo, host, ok := splitUserinfo(raw)
	if !ok {
		return raw
	}
	name, _, hasPassword := strings.Cut(userinfo, ":")
	if !hasPassword {
		return raw
	}
	return head + name + ":" + redactedPassword + "@" + host
}

// splitUserinfo cuts raw at "://" and at the last "@" after it, without
// parsing: head ends with "://", host is the rest after the "@". The last
// "@" is taken, so a password holding "@", "/" or "#" is never left half
// shown; at worst part of a path is hidden with it.
func splitUserinfo(raw string) (head, userinfo, host string, ok bool) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", "", "", false
	}
	head, rest := raw[:i+3], raw[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", "", "", false
	}
	return head, rest[:at], rest[at+1:], true
}

// backendPasswords are the forms a backend URL's password can take in the
// CLI's output: %-decoded and %-escaped. Empty without one.
func backendPasswords(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		if _, userinfo, _, ok := splitUserinfo(raw); ok {
			if _, pw, ok := strings.Cut(userinfo, ":"); ok && pw != "" {
				return []string{pw}
			}
		}
		return nil
	}
	if u.User == nil {
		return nil
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return nil
	}
	forms := []string{pw}
	if _, escaped, _ := strings.Cut(u.User.String(), ":"); escaped != pw {
		forms = append(forms, escaped)
	}
	return forms
}

// minScrubbed is the shortest password scrubbed from free text: a shorter
// one would turn every occurrence of its letters into the mask. The URL
// itself is always redacted.
const minScrubbed = 4

// scrub hides the backend URL's password in text (the CLI's output, which
// may quote the URL): the URL as given is redacted, and the password
// alone, when long enough to be told from ordinary words, is masked.
func scrub(text, backend string) string {
	if backend == "" {
		return text
	}
	if r := redact(backend); r != backend {
		text = strings.ReplaceAll(text, backend, r)
	}
	for _, pw := range backendPasswords(backend) {
		if len(pw) >= minScrubbed {
			text = strings.ReplaceAll(text, pw, redactedPassword)
		}
	}
	return text
}

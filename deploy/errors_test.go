package deploy

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEngineMessageKeepsTheKeysOfAConfigurationError: the error of an up
// whose program refused its configuration, as the Automation API returns it
// (testdata/up-config-error.txt was captured from the Pulumi CLI v3.274.1
// running stack.Deploy with network:cidr 10.0.0.0/30 and kapsule:size 0):
// the message keeps every key the engine printed, without the SDK's
// "1 error occurred" framing or the CLI's progress.
func TestEngineMessageKeepsTheKeysOfAConfigurationError(t *testing.T) {
	t.Parallel()
	sample, err := os.ReadFile("testdata/up-config-error.txt")
	require.NoError(t, err)
	e := classify(context.Background(), "up", "dev", "file:///state", errors.New(string(sample)))
	assert.Equal(t, `up of stack "dev": an unhandled error occurred: configuration of stack "dev":
  gitlabHost:privateIp 10.0.0.2 is one of the first two or last two addresses of 10.0.0.0/30, which Scaleway keeps: pick another
  kapsule:size 0 must be at least 1 node`, e.Error())
}

// TestEngineMessage: each "error: " diagnostic with its continuation lines,
// up to a blank line, another diagnostic or the next section of the
// Automation API's text; distinct errors joined by "; ", repeats dropped.
func TestEngineMessage(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct{ text, want string }{
		"one line": {
			"failed to run update: exit status 255\ncode: 255\nstdout: \nstderr: error: no stack named 'dev' found\n",
			"no stack named 'dev' found",
		},
		"warning before, progress after": {
			"failed to run update: exit status 1\ncode: 1\nstdout: Updating (dev):\n\nstderr: warning: network:allowedIpRanges admits the whole internet\n" +
				"error: an unhandled error occurred: 1 error occurred:\n\t* configuration of stack \"dev\":\nnetwork:cidr \"10.0.0.0/30\" is too small\nkapsule:size 0 must be at least 1 node\n\n\n",
			"an unhandled error occurred: configuration of stack \"dev\":\n  network:cidr \"10.0.0.0/30\" is too small\n  kapsule:size 0 must be at least 1 node",
		},
		"ends at the next diagnostic": {
			"stderr: error: first\nmore of first\nwarning: not an error\nerror: second\n",
			"first\n  more of first; second",
		},
		"ends at the next section": {
			"failed\ncode: 1\nstdout: error: on stdout\nsecond line\nstderr: error: on stderr\n",
			"on stdout\n  second line; on stderr",
		},
		"the Diagnostics section of the progress display, and the same error inline": {
			"stdout: Updating (dev):\nerror: program failed:\nnetwork:cidr is bad\n\nDiagnostics:\n  pulumi:pulumi:Stack (p-dev):\n    error: program failed:\n    network:cidr is bad\n\nResources:\n",
			"program failed:\n  network:cidr is bad",
		},
		"several errors keep their bullets": {
			"stderr: error: an unhandled error occurred: 2 errors occurred:\n\t* a\n\t* b\n\n",
			"an unhandled error occurred: 2 errors occurred:\n  * a\n  * b",
		},
		"not from the CLI": {"read the project settings: no file\nmore", "read the project settings: no file"},
	} {
		assert.Equal(t, tt.want, engineMessage(errors.New(tt.text)), name)
	}
}

// TestBackendPasswordsNeverShow: a password in a backend URL is hidden in
// every message, also when the URL does not parse (a space, a bad
// %-escape, a "/" or "#" in the password).
func TestBackendPasswordsNeverShow(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"postgres://user:pa ss@host/db":       "postgres://user:xxxxx@host/db",
		"postgres://user:p%zz@host":           "postgres://user:xxxxx@host",
		"postgres://user:pa/ss@host:5432/db":  "postgres://user:xxxxx@host:5432/db",
		"postgres://user:pa#s@s@host/db":      "postgres://user:xxxxx@host/db",
		"postgres://user:hunter2@db/state":    "postgres://user:xxxxx@db/state",
		"postgres://user@db/state":            "postgres://user@db/state",
		"s3://bucket/prefix?region=fr-par":    "s3://bucket/prefix?region=fr-par",
		"file:///var/lib/state":               "file:///var/lib/state",
		"postgres://user:hunter 2@db/x?y=%zz": "postgres://user:xxxxx@db/x?y=%zz",
	} {
		assert.Equal(t, want, redact(raw), raw)
	}

	for raw, pw := range map[string]string{
		"postgres://user:pa ss@host/db":    "pa ss",
		"postgres://user:p%zz@host":        "p%zz",
		"postgres://user:hunter2@db:x/y":   "hunter2",
		"file://user:hunter2@relative/dir": "hunter2",
	} {
		err := CheckBackend(raw)
		require.ErrorIs(t, err, ErrBackend, raw)
		assert.NotContains(t, err.Error(), pw, raw)
		assert.Contains(t, err.Error(), "xxxxx", raw)
	}
	_, err := FileBackendDir("file://user:hunter2@relative/dir")
	require.ErrorContains(t, err, "is not an absolute path")
	assert.NotContains(t, err.Error(), "hunter2")

	// classify's hints, and the CLI's own output quoting the URL or the
	// password (as written and decoded).
	for _, backend := range []string{"postgres://user:pa ss@host/db", "postgres://user:p%zz@host", "postgres://user:s3cr%2Ft@host/db"} {
		for _, text := range []string{
			"code: 255\nstderr: error: no stack named 'dev' found\n",
			"code: 255\nstderr: error: could not create backend " + backend + ": refused for " + strings.ReplaceAll(backend, "%2F", "/") + "\n",
		} {
			msg := classify(context.Background(), "select", "dev", backend, errors.New(text)).Error()
			assert.NotContains(t, msg, "pa ss", backend)
			assert.NotContains(t, msg, "p%zz", backend)
			assert.NotContains(t, msg, "s3cr", backend)
			assert.Contains(t, msg, "user:xxxxx@host", backend)
		}
	}
}

package plugins

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func builtAt(rev string) *debug.BuildInfo {
	return &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}}}
}

func TestStaleProviderWarning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plugin := filepath.Join(dir, ProviderPlugin)
	self := filepath.Join(dir, "program")
	for _, f := range []string{plugin, self} {
		require.NoError(t, os.WriteFile(f, []byte("x"), 0o755))
	}
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(self, link))
	built := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

	for _, tt := range []struct {
		name string
		lp   LocalProvider
		want []string // fragments; none: no warning
	}{
		{"no plugin on PATH: the engine says so", LocalProvider{Self: self}, nil},
		{"the command serving itself", LocalProvider{Path: link, Self: self, Built: built, SourcesChanged: built.Add(time.Hour)}, nil},
		{"fresh", LocalProvider{Path: plugin, Self: self, Plugin: builtAt("abc"), Program: builtAt("abc"), Built: built, SourcesChanged: built.Add(-time.Hour)}, nil},
		{"another commit", LocalProvider{Path: plugin, Self: self, Plugin: builtAt("0123456789abcdef"), Program: builtAt("fedcba9876543210"), Built: built},
			[]string{plugin, "commit 0123456789ab", "this program from fedcba987654", "go build -o bin/pulumi-resource-gitlabwait ./provider/cmd/pulumi-resource-gitlabwait"}},
		{"sources changed since the build", LocalProvider{Path: plugin, Self: self, Plugin: builtAt("abc"), Program: builtAt("abc"), Built: built, SourcesChanged: built.Add(time.Minute)},
			[]string{"built 2026-11-30T10:00:00Z, before its sources last changed (2026-11-30T10:01:00Z)", "rebuild it"}},
		{"no build information: the sources decide", LocalProvider{Path: plugin, Self: self, Built: built, SourcesChanged: built.Add(time.Minute)}, []string{"before its sources last changed"}},
	} {
		got := StaleProviderWarning(tt.lp)
		if tt.want == nil {
			assert.Empty(t, got, tt.name)
			continue
		}
		for _, w := range tt.want {
			assert.Contains(t, got, w, tt.name)
		}
	}
}

// FindLocalProvider reads the real files: the plugin on PATH, its time, and
// the newest Go source of the provider (tests excluded).
func TestFindLocalProvider(t *testing.T) {
	bin, project := t.TempDir(), t.TempDir()
	plugin := filepath.Join(bin, ProviderPlugin)
	require.NoError(t, os.WriteFile(plugin, []byte("#!/bin/sh\n"), 0o755))
	built := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(plugin, built, built))
	for name, at := range map[string]time.Time{
		"provider/poll.go":                  built.Add(-time.Minute),
		"internal/sshbastion/sshbastion.go": built.Add(time.Minute),
		"internal/sshbastion/x_test.go":     built.Add(time.Hour),
	} {
		f := filepath.Join(project, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(f), 0o755))
		require.NoError(t, os.WriteFile(f, []byte("package x\n"), 0o644))
		require.NoError(t, os.Chtimes(f, at, at))
	}
	t.Setenv("PATH", bin)

	lp := FindLocalProvider(project)
	assert.Equal(t, plugin, lp.Path)
	assert.True(t, lp.Built.Equal(built), "%v", lp.Built)
	assert.True(t, lp.SourcesChanged.Equal(built.Add(time.Minute)), "the newest source, tests left out: %v", lp.SourcesChanged)
	assert.Nil(t, lp.Plugin, "a script has no Go build information")
	assert.Contains(t, StaleProviderWarning(lp), "before its sources last changed")

	t.Setenv("PATH", t.TempDir())
	assert.Empty(t, FindLocalProvider(project).Path)
}

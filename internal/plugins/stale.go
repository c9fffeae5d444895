package plugins

import (
	"debug/buildinfo"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ProviderPlugin is the readiness provider's executable, as the engine looks
// for it on PATH (an ambient plugin: Pulumi.yaml names no plugin folder).
const ProviderPlugin = "pulumi-resource-" + gitlabwait.Package

// providerSources are the folders, relative to the project, whose Go files
// build the readiness provider: its own package tree and the internal
// packages it imports (internal/sshbastion).
var providerSources = []string{"provider", "internal"}

// LocalProvider is the readiness provider a plain `pulumi` run in dir would
// start, and this program, as the checks need them.
type LocalProvider struct {
	// Path is the plugin on PATH; empty when there is none.
	Path string
	// Self is this program's executable.
	Self string
	// Plugin and Program are the two executables' build information (nil
	// when unreadable).
	Plugin, Program *debug.BuildInfo
	// Built is the plugin's modification time.
	Built time.Time
	// SourcesChanged is the newest modification time of the provider's Go
	// sources in the project; zero when the project has none (not a checkout).
	SourcesChanged time.Time
}

// servedKey marks a Context whose driver names the readiness provider's
// plugin folder itself (WithServedProvider).
type servedKey struct{}

// WithServedProvider returns ctx marked as run by a driver that points the
// engine at the readiness provider itself (deploy with a PluginDir): the
// plugin on PATH, if any, is not the one the engine starts, so it is not
// judged.
func WithServedProvider(ctx *pulumi.Context) *pulumi.Context {
	return ctx.WithValue(servedKey{}, true)
}

// ServedByDriver reports whether ctx was marked by WithServedProvider.
func ServedByDriver(ctx *pulumi.Context) bool {
	served, _ := ctx.Value(servedKey{}).(bool)
	return served
}

// WarnStaleProvider logs StaleProviderWarning's warning for a plain
// `pulumi` run in the project folder dir; under mocks, or with a driver
// that serves the provider, it looks at nothing.
func WarnStaleProvider(ctx *pulumi.Context, dir string) {
	if ServedByDriver(ctx) || ctx.RunningWithMocks() {
		return
	}
	if w := StaleProviderWarning(FindLocalProvider(dir)); w != "" {
		_ = ctx.Log.Warn(w, nil)
	}
}

// FindLocalProvider reads what StaleProviderWarning judges, for a program
// whose project folder is dir. The sources are read only when the plugin
// on PATH is another executable than this one.
func FindLocalProvider(dir string) LocalProvider {
	var lp LocalProvider
	lp.Path, _ = exec.LookPath(ProviderPlugin)
	lp.Self, _ = os.Executable()
	lp.Program, _ = debug.ReadBuildInfo()
	if lp.Path == "" || sameFile(lp.Path, lp.Self) {
		return lp
	}
	lp.Plugin, _ = buildinfo.ReadFile(lp.Path)
	if st, err := os.Stat(lp.Path); err == nil {
		lp.Built = st.ModTime()
	}
	for _, src := range providerSources {
		_ = filepath.WalkDir(filepath.Join(dir, src), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			if info, err := d.Info(); err == nil && info.ModTime().After(lp.SourcesChanged) {
				lp.SourcesChanged = info.ModTime()
			}
			return nil
		})
	}
	return lp
}

// StaleProviderWarning says, when the plugin a plain `pulumi` run takes from
// PATH may not be this program's provider, why and how to rebuild it: built
// from another commit, or before the provider's sources last changed. It is
// empty when the plugin is fresh, is this very executable (the command
// serves the provider itself), or is missing (the engine then names it).
func StaleProviderWarning(lp LocalProvider) string {
	if lp.Path == "" || sameFile(lp.Path, lp.Self) {
		return ""
	}
	rebuild := fmt.Sprintf("rebuild it: go build -o %s ./provider/cmd/%s", filepath.Join("bin", ProviderPlugin), ProviderPlugin)
	pluginRev, programRev := revision(lp.Plugin), revision(lp.Program)
	if pluginRev != "" && programRev != "" && pluginRev != programRev {
		return fmt.Sprintf("the readiness provider %s was built from commit %.12s, this program from %.12s: %s", lp.Path, pluginRev, programRev, rebuild)
	}
	if !lp.SourcesChanged.IsZero() && lp.SourcesChanged.After(lp.Built) {
		return fmt.Sprintf("the readiness provider %s was built %s, before its sources last changed (%s): %s",
			lp.Path, lp.Built.Format(time.RFC3339), lp.SourcesChanged.Format(time.RFC3339), rebuild)
	}
	return ""
}

// revision is the commit an executable was built from (go build records it
// in a git checkout), or "" when the build recorded none.
func revision(bi *debug.BuildInfo) string {
	if bi == nil {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}

// sameFile reports whether a and b are one file (a link to it counts).
func sameFile(a, b string) bool {
	if b == "" {
		return false
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

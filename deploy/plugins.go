package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
)

// providerPlugin is the file the engine starts the readiness provider from.
const providerPlugin = plugins.ProviderPlugin

// ignoreAmbientEnv turns off the engine's search of PATH for plugins.
const ignoreAmbientEnv = "PULUMI_IGNORE_AMBIENT_PLUGINS"

// How Options.PluginDir reaches the engine. The engine resolves a resource
// plugin in workspace.getPluginInfoAndPath (sdk/go/common/workspace/plugins.go,
// github.com/pulumi/pulumi/sdk/v3 v3.274.1), in this order:
//
//  1. the project's plugins.providers: a folder (plugin.resolvePluginPath in
//     sdk/go/common/resource/plugin/host.go refuses a file or a missing
//     folder), relative to the project's root, holding
//     pulumi-resource-<name>; its version is compared only when the entry
//     names one, and the entry wins over everything below;
//  2. pulumi-resource-<name> on PATH (exec.LookPath), unless
//     PULUMI_IGNORE_AMBIENT_PLUGINS is true; the engine then warns "using
//     pulumi-resource-<name> from $PATH";
//  3. the plugin cache in PULUMI_HOME, by version.
//
// Project settings made in code name PluginDir as the gitlabwait entry (1).
// A ProjectDir's Pulumi.yaml is the user's and is never rewritten (settings
// given with auto.Project would be: NewLocalWorkspace in sdk/go/auto saves
// them to the work folder's Pulumi.yaml), so when it names no folder for
// gitlabwait, PluginDir goes first on the CLI's PATH (2).
// The plugin cache (3) is shared by every project of the user, and one
// version there cannot be two builds, so it is left alone.

// projectPlugins are the plugin settings of a project made in code: the
// readiness provider from pluginDir, or none when it is empty.
func projectPlugins(pluginDir string) (*workspace.Plugins, error) {
	if pluginDir == "" {
		return nil, nil
	}
	abs, err := filepath.Abs(pluginDir)
	if err != nil {
		return nil, fmt.Errorf("plugin folder %s: %w", pluginDir, err)
	}
	return &workspace.Plugins{Providers: []workspace.PluginOptions{{Name: gitlabwait.Package, Path: abs}}}, nil
}

// pluginFromProjectDir points the engine at pluginDir for a project read
// from dir, adding to env, the CLI's environment: the folders Pulumi.yaml
// names must exist (the engine refuses a missing one); one it names for
// gitlabwait must be pluginDir, as it wins; else pluginDir goes first on
// PATH, which the engine must be allowed to search.
func pluginFromProjectDir(dir string, proj *workspace.Project, pluginDir string, env map[string]string) error {
	want := ""
	if pluginDir != "" {
		abs, err := filepath.Abs(pluginDir)
		if err != nil {
			return fmt.Errorf("plugin folder %s: %w", pluginDir, err)
		}
		want = filepath.Clean(abs)
	}
	named := false
	if proj.Plugins != nil {
		for _, p := range proj.Plugins.Providers {
			path := p.Path
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			if p.Name == gitlabwait.Package && want != "" {
				named = true
				if want != filepath.Clean(path) {
					return fmt.Errorf("plugin folder %s differs from %s, which Pulumi.yaml names for %s and the engine takes first: remove that entry from Pulumi.yaml, or leave the plugin folder unset and put %s there",
						pluginDir, path, p.Name, providerPlugin)
				}
			}
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("create the plugin folder %s that Pulumi.yaml names: %w", path, err)
			}
		}
	}
	if want == "" || named {
		return nil
	}
	if isTrue(cliEnv(env, ignoreAmbientEnv)) {
		return fmt.Errorf("%s is set, so the engine would not look for %s in the plugin folder %s, which goes on PATH because Pulumi.yaml in %s names no folder for %s: unset the variable, or name the folder in Pulumi.yaml's plugins.providers",
			ignoreAmbientEnv, providerPlugin, pluginDir, dir, gitlabwait.Package)
	}
	env["PATH"] = want + string(os.PathListSeparator) + cliEnv(env, "PATH")
	return nil
}

// cliEnv is the value of key in the CLI's environment: env on top of this
// process's.
func cliEnv(env map[string]string, key string) string {
	if v, ok := env[key]; ok {
		return v
	}
	return os.Getenv(key)
}

// isTrue reads a boolean variable as the engine does (env.BoolValue in
// sdk/go/common/util/env/env.go).
func isTrue(v string) bool { return v == "1" || strings.EqualFold(v, "true") }

// IsProviderPlugin reports whether a process started as argv0 (os.Args[0])
// is the readiness provider's plugin, pulumi-resource-gitlabwait: the name
// under which the engine starts it from a folder of ExecutablePluginDir. A
// Go tool serves the provider from its own binary when its main begins
//
//	if deploy.IsProviderPlugin(os.Args[0]) {
//		if err := deploy.ServeProvider(context.Background()); err != nil { ... }
//		return
//	}
func IsProviderPlugin(argv0 string) bool {
	return filepath.Base(argv0) == providerPlugin
}

// ServeProvider serves the readiness provider (package provider) to the
// engine that started this process, as pulumi-resource-gitlabwait's own
// main does, until the engine ends it. The engine's arguments are read from
// os.Args.
func ServeProvider(ctx context.Context) error {
	prov, err := provider.Provider()
	if err != nil {
		return fmt.Errorf("make the readiness provider: %w", err)
	}
	return prov.Run(ctx, provider.Name, provider.Version)
}

// ExecutablePluginDir makes a temporary folder, for Options.PluginDir, whose
// pulumi-resource-gitlabwait is a symbolic link to exe: a binary that serves
// the readiness provider under that name (IsProviderPlugin), such as the
// running tool's os.Executable(). The engine then starts the provider with
// no separate build and no Go toolchain. A folder per call, rather than one
// kept between runs, leaves nothing behind that points at a binary gone
// since (`go run` removes its own). remove deletes the folder once the
// operations are over.
func ExecutablePluginDir(exe string) (dir string, remove func() error, err error) {
	abs, err := filepath.Abs(exe)
	if err != nil {
		return "", nil, fmt.Errorf("the provider's executable %s: %w", exe, err)
	}
	if st, err := os.Stat(abs); err != nil {
		return "", nil, fmt.Errorf("the provider's executable: %w: give the binary that serves the readiness provider", err)
	} else if st.IsDir() {
		return "", nil, fmt.Errorf("the provider's executable %s is a folder: give the binary that serves the readiness provider", abs)
	}
	dir, err = os.MkdirTemp("", "gitlab-kapsule-plugins-")
	if err != nil {
		return "", nil, fmt.Errorf("make a plugin folder for the readiness provider (set TMPDIR to a writable folder): %w", err)
	}
	remove = func() error { return os.RemoveAll(dir) }
	if err := os.Symlink(abs, filepath.Join(dir, providerPlugin)); err != nil {
		return "", nil, errors.Join(fmt.Errorf("link %s to %s in the plugin folder: %w", providerPlugin, abs, err), remove())
	}
	return dir, remove, nil
}

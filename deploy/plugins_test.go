package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPluginFromProjectDir: a Pulumi.yaml that names no folder for the
// readiness provider gets PluginDir first on the CLI's PATH, unless the
// engine is told to ignore PATH; one that names a folder must agree.
func TestPluginFromProjectDir(t *testing.T) {
	dir, plugins := t.TempDir(), t.TempDir()
	t.Setenv(ignoreAmbientEnv, "")
	t.Setenv("PATH", "/usr/bin")
	bare := &workspace.Project{Name: "gitlab-kapsule"}

	env := map[string]string{}
	require.NoError(t, pluginFromProjectDir(dir, bare, plugins, env))
	assert.Equal(t, plugins+string(os.PathListSeparator)+"/usr/bin", env["PATH"])

	env = map[string]string{"PATH": "/opt/bin"}
	require.NoError(t, pluginFromProjectDir(dir, bare, plugins, env))
	assert.Equal(t, plugins+string(os.PathListSeparator)+"/opt/bin", env["PATH"], "Options.Env's PATH is the CLI's")

	env = map[string]string{}
	require.NoError(t, pluginFromProjectDir(dir, bare, "", env))
	assert.Empty(t, env, "no plugin folder, nothing changes")

	for _, e := range []map[string]string{{ignoreAmbientEnv: "true"}, {ignoreAmbientEnv: "1"}} {
		err := pluginFromProjectDir(dir, bare, plugins, e)
		require.ErrorContains(t, err, "PULUMI_IGNORE_AMBIENT_PLUGINS is set, so the engine would not look for pulumi-resource-gitlabwait in the plugin folder "+plugins)
		assert.ErrorContains(t, err, "unset the variable, or name the folder in Pulumi.yaml's plugins.providers")
	}
	t.Setenv(ignoreAmbientEnv, "true")
	require.Error(t, pluginFromProjectDir(dir, bare, plugins, map[string]string{}), "the process's environment counts too")
	require.NoError(t, pluginFromProjectDir(dir, bare, plugins, map[string]string{ignoreAmbientEnv: "false"}), "Options.Env wins")

	named := &workspace.Project{Name: "gitlab-kapsule", Plugins: &workspace.Plugins{Providers: []workspace.PluginOptions{{Name: "gitlabwait", Path: "./bin"}}}}
	env = map[string]string{}
	require.NoError(t, pluginFromProjectDir(dir, named, filepath.Join(dir, "bin"), env))
	assert.Empty(t, env, "the engine takes the folder Pulumi.yaml names")
	assert.DirExists(t, filepath.Join(dir, "bin"), "the folder Pulumi.yaml names is made: the engine refuses a missing one")
	require.NoError(t, pluginFromProjectDir(dir, named, "", env))
	err := pluginFromProjectDir(dir, named, plugins, env)
	require.ErrorContains(t, err, "plugin folder "+plugins+" differs from "+filepath.Join(dir, "bin")+", which Pulumi.yaml names for gitlabwait and the engine takes first")
}

// TestExecutablePluginDir: the folder holds the provider's name, linked to
// the executable, and goes when removed; a missing executable is named.
func TestExecutablePluginDir(t *testing.T) {
	t.Parallel()
	exe := filepath.Join(t.TempDir(), "tool")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	dir, remove, err := ExecutablePluginDir(exe)
	require.NoError(t, err)
	target, err := os.Readlink(filepath.Join(dir, "pulumi-resource-gitlabwait"))
	require.NoError(t, err)
	assert.Equal(t, exe, target)
	assert.True(t, IsProviderPlugin(filepath.Join(dir, "pulumi-resource-gitlabwait")))
	assert.False(t, IsProviderPlugin(exe))
	require.NoError(t, remove())
	assert.NoDirExists(t, dir)

	_, _, err = ExecutablePluginDir(filepath.Join(t.TempDir(), "gone"))
	require.ErrorContains(t, err, "give the binary that serves the readiness provider")
}

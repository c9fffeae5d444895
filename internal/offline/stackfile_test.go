package offline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testcheck"
)

func TestReadStackConfigConvertsValuesLikePulumi(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.s.yaml"), []byte(`config:
  network:cidr: 10.1.0.0/24
  kapsule:size: 3
  network:allowedIpRanges:
    - 198.51.100.0/24
  gitlabHost:rootPassword:
    secure: v1:abc
`), 0o600))
	sc, err := ReadStackConfig(dir, "s")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"network:cidr":            "10.1.0.0/24",
		"kapsule:size":            "3",
		"network:allowedIpRanges": `["198.51.100.0/24"]`,
	}, sc.Values)
	assert.Equal(t, []string{"gitlabHost:rootPassword"}, sc.Encrypted)
}

func TestMissingStackFileMeansDefaults(t *testing.T) {
	t.Parallel()
	sc, err := ReadStackConfig(t.TempDir(), "none")
	require.NoError(t, err)
	assert.Empty(t, sc.Values)
}

func TestBrokenStackFileIsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.x.yaml"), []byte("config: [unclosed"), 0o600))
	_, err := ReadStackConfig(dir, "x")
	require.ErrorContains(t, err, "Pulumi.x.yaml")
}

func writeStack(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.s.yaml"), []byte(content), 0o600))
	return dir
}

// TestReadStackConfigReadsYAMLAsTheCLIDoes: the CLI reads stack files with
// YAML 1.2 (gopkg.in/yaml.v3, through the SDK's workspace loader), where
// yes/no/on/off are strings, and puts bare keys in the project's namespace.
func TestReadStackConfigReadsYAMLAsTheCLIDoes(t *testing.T) {
	t.Parallel()
	sc, err := ReadStackConfig(writeStack(t, `config:
  gitlabHost:tls: no
  agent:clusterAdmin: on
  gitops:enabled: false
  network:bastionPort: 61000
  cidr: 10.1.0.0/24
  agent:namespaces: [web, "no"]
  gitlabHost:rootPassword:
    secure: v1:abc
  network:nested:
    a:
      secure: v1:def
`), "s")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"gitlabHost:tls":      "no",
		"agent:clusterAdmin":  "on",
		"gitops:enabled":      "false",
		"network:bastionPort": "61000",
		"gitlab-kapsule:cidr": "10.1.0.0/24",
		"agent:namespaces":    `["web","no"]`,
	}, sc.Values)
	assert.Equal(t, []string{"gitlabHost:rootPassword", "network:nested"}, sc.Encrypted, "an object with a secure leaf is encrypted too")
	assert.Equal(t, []string{"agent:clusterAdmin", "agent:namespaces", "gitlab-kapsule:cidr", "gitlabHost:rootPassword", "gitlabHost:tls", "gitops:enabled", "network:bastionPort", "network:nested"}, sc.Keys())
}

func TestStackFileTopLevelKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file string
		want       []string // fragments of the error; nil: no error
	}{
		{"misspelt config", "confg:\n  network:cidr: 10.1.0.0/24\n", []string{"Pulumi.s.yaml", `top-level key "confg"`, "config, encryptedkey, encryptionsalt, environment, secretsprovider"}},
		{"two unknown keys", "config: {}\nextra: 1\nsecrets: x\n", []string{`"extra"`, `"secrets"`}},
		{"every stack file key", "secretsprovider: passphrase\nencryptionsalt: v1:abc\nencryptedkey: ''\nenvironment: [dev]\nconfig:\n  network:cidr: 10.1.0.0/24\n", nil},
		{"empty file", "", nil},
		{"not a mapping", "- config\n", []string{"Pulumi.s.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadStackConfig(writeStack(t, tt.file), "s")
			testcheck.ErrorMentions(t, err, tt.want)
		})
	}
}

func TestStackFileKeysAreTheSDKs(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"config", "encryptedkey", "encryptionsalt", "environment", "secretsprovider"}, stackFileKeys())
}

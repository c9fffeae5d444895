package offline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

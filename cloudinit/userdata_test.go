package cloudinit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func sample() GitLab {
	return GitLab{
		ExternalURL: "http://10.0.0.10",
		PrivateIP:   "10.0.0.10",
		NetworkCIDR: "10.0.0.0/24",
		KASPort:     DefaultKASPort,
		KASURL:      "grpc://10.0.0.10:8150",
	}
}

func sampleTLS() GitLab {
	g := sample()
	g.ExternalURL, g.KASURL, g.TLS = "https://10.0.0.10", "grpcs://10.0.0.10:8150", true
	return g
}

// The user-data is read back strictly: a key it does not know means the
// user-data carries something this test does not look at.
func TestUserDataOnlyInstallsTheBasePackages(t *testing.T) {
	t.Parallel()
	out, err := UserData()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "#cloud-config\n"), "cloud-init reads only user-data that starts with #cloud-config")
	var cfg CloudConfig
	require.NoError(t, yaml.UnmarshalStrict([]byte(strings.TrimPrefix(out, "#cloud-config\n")), &cfg))
	assert.Equal(t, CloudConfig{PackageUpdate: true, Packages: BasePackages}, cfg)
	assert.Contains(t, cfg.Packages, "openssh-server", "GitLabConfigured reaches the host over SSH")
}

func TestGitLabRBConfiguresOmnibusForThePrivateNetwork(t *testing.T) {
	t.Parallel()
	rb, err := GitLabRB(sample())
	require.NoError(t, err)
	for _, want := range []string{
		"external_url 'http://10.0.0.10'",
		"gitlab_rails['monitoring_whitelist'] = ['127.0.0.0/8', '::1/128', '10.0.0.0/24']",
		"gitlab_kas['enable'] = true",
		"gitlab_kas['listen_address'] = '10.0.0.10:8150'",
		"gitlab_kas['listen_websocket'] = false",
		"gitlab_rails['gitlab_kas_external_url'] = 'grpc://10.0.0.10:8150'",
	} {
		assert.Contains(t, rb, want)
	}
	assert.NotContains(t, rb, "gitlab_kas['external_address']", "no such Omnibus key")
	assert.Contains(t, rb, "from_file '"+UserIDsPath+"' if File.exist?('"+UserIDsPath+"')", "a replaced host keeps the users' ids")
	assert.NotContains(t, rb, "ssl_certificate")
	assert.NotContains(t, rb, "certificate_file")
}

func TestGitLabRBEscapesRubyLiterals(t *testing.T) {
	t.Parallel()
	g := sample()
	g.ExternalURL = `http://a'b\c`
	rb, err := GitLabRB(g)
	require.NoError(t, err)
	assert.Contains(t, rb, `external_url 'http://a\'b\\c'`)
}

func TestGitLabRBRefusesMissingValues(t *testing.T) {
	t.Parallel()
	g := sample()
	g.NetworkCIDR, g.KASPort = "", 0
	_, err := GitLabRB(g)
	require.ErrorContains(t, err, "NetworkCIDR")
	require.ErrorContains(t, err, "KASPort")
}

func TestGitLabRBWithTLSServesHTTPSAndGRPCS(t *testing.T) {
	t.Parallel()
	rb, err := GitLabRB(sampleTLS())
	require.NoError(t, err)
	for _, want := range []string{
		"external_url 'https://10.0.0.10'",
		"nginx['ssl_certificate'] = '" + TLSCertPath + "'",
		"nginx['ssl_certificate_key'] = '" + TLSKeyPath + "'",
		"gitlab_kas['certificate_file'] = '" + TLSCertPath + "'",
		"gitlab_kas['key_file'] = '" + KASKeyPath + "'",
		"gitlab_rails['gitlab_kas_external_url'] = 'grpcs://10.0.0.10:8150'",
	} {
		assert.Contains(t, rb, want)
	}
}

func TestGitLabRBRefusesSchemesThatContradictTLS(t *testing.T) {
	t.Parallel()
	g := sampleTLS()
	g.KASURL = "grpc://10.0.0.10:8150"
	_, err := GitLabRB(g)
	require.ErrorContains(t, err, "grpcs://")

	g = sample()
	g.ExternalURL = "https://10.0.0.10"
	_, err = GitLabRB(g)
	require.ErrorContains(t, err, "http://")
}

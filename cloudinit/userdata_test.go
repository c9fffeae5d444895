package cloudinit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// Sample is user-data input with the production shape and fake secrets.
func sample() GitLab {
	return GitLab{
		ExternalURL:  "http://10.0.0.10",
		PrivateIP:    "10.0.0.10",
		NetworkCIDR:  "10.0.0.0/24",
		KASPort:      DefaultKASPort,
		KASURL:       "grpc://10.0.0.10:8150",
		Package:      "gitlab-ce",
		Version:      "18.5.1-ce.0",
		RootPassword: "it's a 'secret' $(pw)",
		AdminToken:   "tok-0123456789abcdefghij",
	}
}

func parse(t *testing.T, userData string) CloudConfig {
	t.Helper()
	require.True(t, strings.HasPrefix(userData, "#cloud-config\n"), "cloud-init reads only user-data that starts with #cloud-config")
	var cfg CloudConfig
	require.NoError(t, yaml.UnmarshalStrict([]byte(strings.TrimPrefix(userData, "#cloud-config\n")), &cfg))
	return cfg
}

func file(t *testing.T, cfg CloudConfig, path string) WriteFile {
	t.Helper()
	for _, f := range cfg.WriteFiles {
		if f.Path == path {
			return f
		}
	}
	t.Fatalf("user-data writes no %s", path)
	return WriteFile{}
}

func TestRenderConfiguresOmnibusForThePrivateNetwork(t *testing.T) {
	t.Parallel()
	out, err := Render(sample())
	require.NoError(t, err)
	rb := file(t, parse(t, out), GitLabRBPath).Content

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
	assert.NotContains(t, rb, sample().RootPassword, "gitlab.rb stays free of secrets")
	assert.NotContains(t, rb, sample().AdminToken)
}

func TestRenderKeepsSecretsInARootOnlyFile(t *testing.T) {
	t.Parallel()
	out, err := Render(sample())
	require.NoError(t, err)
	cfg := parse(t, out)
	secrets := file(t, cfg, SecretsPath)
	assert.Equal(t, "0600", secrets.Permissions)
	assert.Equal(t, "root:root", secrets.Owner)
	assert.Contains(t, secrets.Content, `GITLAB_ROOT_PASSWORD='it'\''s a '\''secret'\'' $(pw)'`, "quoted so the shell neither splits nor expands it")
	assert.Contains(t, secrets.Content, "GITLAB_ADMIN_TOKEN='tok-0123456789abcdefghij'")
	assert.Contains(t, secrets.Content, "GITLAB_VERSION='18.5.1-ce.0'")
	assert.Equal(t, "0700", file(t, cfg, BootstrapPath).Permissions)
	assert.Equal(t, [][]string{{BootstrapPath}}, cfg.Runcmd)
}

func TestRenderEscapesRubyLiterals(t *testing.T) {
	t.Parallel()
	g := sample()
	g.ExternalURL = `http://a'b\c`
	out, err := Render(g)
	require.NoError(t, err)
	assert.Contains(t, file(t, parse(t, out), GitLabRBPath).Content, `external_url 'http://a\'b\\c'`)
}

func TestRenderRefusesMissingValues(t *testing.T) {
	t.Parallel()
	g := sample()
	g.AdminToken = ""
	g.KASPort = 0
	_, err := Render(g)
	require.ErrorContains(t, err, "AdminToken")
	require.ErrorContains(t, err, "KASPort")
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	assert.Equal(t, `'plain'`, shellQuote("plain"))
	assert.Equal(t, `'a'\''b'`, shellQuote("a'b"))
	assert.Equal(t, `''`, shellQuote(""))
}

func sampleTLS() GitLab {
	g := sample()
	g.ExternalURL = "https://10.0.0.10"
	g.KASURL = "grpcs://10.0.0.10:8150"
	g.TLS = &TLS{CACert: "CA PEM", Cert: "CERT PEM", Key: "KEY PEM"}
	return g
}

func TestRenderWithTLSServesHTTPSAndGRPCS(t *testing.T) {
	t.Parallel()
	out, err := Render(sampleTLS())
	require.NoError(t, err)
	cfg := parse(t, out)
	rb := file(t, cfg, GitLabRBPath).Content
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
	key := file(t, cfg, TLSKeyPath)
	assert.Equal(t, "0600", key.Permissions)
	assert.Equal(t, "KEY PEM", key.Content)
	assert.Equal(t, "CA PEM", file(t, cfg, CACertPath).Content, "GitLab trusts its own CA")
	assert.Contains(t, BootstrapScript(), TLSKeyPath, "the bootstrap script copies the key the user-data writes")
	assert.Contains(t, BootstrapScript(), KASKeyPath, "to where gitlab.rb points KAS")
}

func TestRenderWithoutTLSHasNoCertificates(t *testing.T) {
	t.Parallel()
	out, err := Render(sample())
	require.NoError(t, err)
	rb := file(t, parse(t, out), GitLabRBPath).Content
	assert.NotContains(t, rb, "ssl_certificate")
	assert.NotContains(t, rb, "certificate_file")
}

func TestRenderRefusesSchemesThatContradictTLS(t *testing.T) {
	t.Parallel()
	g := sampleTLS()
	g.KASURL = "grpc://10.0.0.10:8150"
	_, err := Render(g)
	require.ErrorContains(t, err, "grpcs://")

	g = sample()
	g.ExternalURL = "https://10.0.0.10"
	_, err = Render(g)
	require.ErrorContains(t, err, "http://")
}

// Issue 17: gitlab-rails runs the runner as the git user, so the bootstrap
// script hands it a git-readable copy; cloud-init's own copy stays root-only.
func TestTokenScriptIsRootOnlyUntilTheBootstrapCopiesItForGit(t *testing.T) {
	t.Parallel()
	out, err := Render(sample())
	require.NoError(t, err)
	src := file(t, parse(t, out), CreateTokenPath)
	assert.Equal(t, "0600", src.Permissions)
	assert.Equal(t, "root:root", src.Owner)
	assert.Contains(t, BootstrapScript(), `token_script_src=`+CreateTokenPath)
	assert.Contains(t, BootstrapScript(), `token_script=`+TokenScriptRunPath)
	assert.Contains(t, BootstrapScript(), `install -o root -g git -m 0640 "$token_script_src" "$token_script"`)
	assert.Contains(t, BootstrapScript(), `gitlab-rails runner "$token_script"`)
	assert.NotContains(t, src.Content, sample().AdminToken, "the script reads the token from the environment")
}

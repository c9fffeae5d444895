package cloudinit

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

var (
	//go:embed gitlab.rb.tmpl
	gitlabRBTemplate string
	//go:embed bootstrap.sh
	bootstrapScript string
	//go:embed create-admin-token.rb
	createAdminTokenScript string
)

// BootstrapScript is the first-boot installer, exposed so tests can lint it.
func BootstrapScript() string { return bootstrapScript }

// Paths on the GitLab host that the user-data writes.
const (
	GitLabRBPath  = "/etc/gitlab/gitlab.rb"
	SecretsPath   = "/etc/gitlab-bootstrap/secrets.env"
	BootstrapPath = "/usr/local/sbin/gitlab-bootstrap"
	// CreateTokenPath is the token script as cloud-init writes it, root-only:
	// the git group it must be readable by exists only once the package is in.
	CreateTokenPath = "/etc/gitlab-bootstrap/create-admin-token.rb"
	// TokenScriptRunPath is the copy (root:git 0640) that the bootstrap script
	// makes for `gitlab-rails runner`, which drops to the git user (issue 17).
	TokenScriptRunPath = "/var/lib/gitlab-bootstrap/create-admin-token.rb"
	TLSCertPath        = "/etc/gitlab/ssl/gitlab-kapsule.crt"
	TLSKeyPath         = "/etc/gitlab/ssl/gitlab-kapsule.key"
	// KASKeyPath is a copy of the key that the bootstrap script makes readable
	// by the git group once the package has created it: KAS runs as git.
	KASKeyPath        = "/etc/gitlab/ssl/gitlab-kapsule-kas.key"
	CACertPath        = "/etc/gitlab/trusted-certs/gitlab-kapsule-ca.crt"
	DefaultKASPort    = 8150
	cloudConfigHeader = "#cloud-config\n"
)

// GitLab is everything the GitLab host's user-data is rendered from.
type GitLab struct {
	// ExternalURL is GitLab's URL on its private address, e.g. "http://10.0.0.10".
	ExternalURL string
	// PrivateIP is the host's reserved private address.
	PrivateIP string
	// NetworkCIDR is the private network, allowed to read the health endpoints.
	NetworkCIDR string
	// KASPort is the agent server's port for agentk (8150).
	KASPort int
	// KASURL is the address agentk dials, e.g. "grpc://10.0.0.10:8150".
	KASURL string
	// Package is the Omnibus package name: gitlab-ce or gitlab-ee.
	Package string
	// Version is the pinned package version, e.g. "18.5.1-ce.0".
	Version string
	// RootPassword is the initial root password (secret).
	RootPassword string
	// AdminToken is the automation personal access token's value (secret).
	AdminToken string
	// TLS, when set, makes GitLab serve HTTPS and KAS grpcs with this
	// certificate; ExternalURL and KASURL must then be https:// and grpcs://.
	TLS *TLS
}

// TLS is GitLab's server certificate and the private CA that signed it.
type TLS struct {
	// CACert is the CA certificate (PEM), trusted by GitLab itself.
	CACert string
	// Cert and Key are GitLab's certificate and private key (PEM; Key is secret).
	Cert, Key string
}

// templateData is what gitlab.rb.tmpl sees.
type templateData struct {
	GitLab
	TLSCertPath, TLSKeyPath, KASKeyPath string
}

// CloudConfig is the subset of cloud-config the host needs. It is built as
// data and marshalled, so no value can break the YAML around it; tests read
// the rendered user-data back into it.
type CloudConfig struct {
	PackageUpdate bool        `json:"package_update"`
	Packages      []string    `json:"packages"`
	WriteFiles    []WriteFile `json:"write_files"`
	Runcmd        [][]string  `json:"runcmd"`
}

// WriteFile is one file of write_files.
type WriteFile struct {
	Path        string `json:"path"`
	Permissions string `json:"permissions"`
	Owner       string `json:"owner"`
	Content     string `json:"content"`
}

// Render returns the #cloud-config user-data for the GitLab host. It carries
// secrets: callers must keep the result a Pulumi secret.
func Render(g GitLab) (string, error) {
	if err := g.check(); err != nil {
		return "", err
	}
	rb, err := renderGitLabRB(g)
	if err != nil {
		return "", err
	}
	cfg := CloudConfig{
		PackageUpdate: true,
		Packages:      []string{"curl", "ca-certificates", "gnupg", "openssh-server", "perl", "tzdata"},
		WriteFiles: []WriteFile{
			{Path: GitLabRBPath, Permissions: "0600", Owner: "root:root", Content: rb},
			{Path: SecretsPath, Permissions: "0600", Owner: "root:root", Content: secretsEnv(g)},
			{Path: CreateTokenPath, Permissions: "0600", Owner: "root:root", Content: createAdminTokenScript},
			{Path: BootstrapPath, Permissions: "0700", Owner: "root:root", Content: bootstrapScript},
		},
		Runcmd: [][]string{{BootstrapPath}},
	}
	if g.TLS != nil {
		cfg.WriteFiles = append(cfg.WriteFiles,
			WriteFile{Path: TLSCertPath, Permissions: "0644", Owner: "root:root", Content: g.TLS.Cert},
			WriteFile{Path: TLSKeyPath, Permissions: "0600", Owner: "root:root", Content: g.TLS.Key},
			WriteFile{Path: CACertPath, Permissions: "0644", Owner: "root:root", Content: g.TLS.CACert},
		)
	}
	body, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("marshal cloud-config: %w", err)
	}
	return cloudConfigHeader + string(body), nil
}

// renderGitLabRB returns only the Omnibus configuration, which holds no secret.
func renderGitLabRB(g GitLab) (string, error) {
	tmpl, err := template.New("gitlab.rb").Funcs(template.FuncMap{"rb": rubyString}).Option("missingkey=error").Parse(gitlabRBTemplate)
	if err != nil {
		return "", fmt.Errorf("parse gitlab.rb template: %w", err)
	}
	var out bytes.Buffer
	data := templateData{GitLab: g, TLSCertPath: TLSCertPath, TLSKeyPath: TLSKeyPath, KASKeyPath: KASKeyPath}
	if err := tmpl.Execute(&out, data); err != nil {
		return "", fmt.Errorf("render gitlab.rb: %w", err)
	}
	return out.String(), nil
}

func (g GitLab) check() error {
	var missing []string
	for name, v := range map[string]string{
		"ExternalURL": g.ExternalURL, "PrivateIP": g.PrivateIP, "NetworkCIDR": g.NetworkCIDR, "KASURL": g.KASURL,
		"Package": g.Package, "Version": g.Version, "RootPassword": g.RootPassword, "AdminToken": g.AdminToken,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if g.KASPort == 0 {
		missing = append(missing, "KASPort")
	}
	if g.TLS != nil && (g.TLS.CACert == "" || g.TLS.Cert == "" || g.TLS.Key == "") {
		missing = append(missing, "TLS.CACert, TLS.Cert and TLS.Key")
	}
	if len(missing) > 0 {
		return fmt.Errorf("render GitLab user-data: %s not set", strings.Join(missing, ", "))
	}
	return g.checkSchemes()
}

// checkSchemes keeps the URLs consistent with TLS: a certificate GitLab
// serves but the URLs ignore (or the reverse) would break agentk's connection.
func (g GitLab) checkSchemes() error {
	web, kas := "http://", "grpc://"
	if g.TLS != nil {
		web, kas = "https://", "grpcs://"
	}
	if !strings.HasPrefix(g.ExternalURL, web) || !strings.HasPrefix(g.KASURL, kas) {
		return fmt.Errorf("render GitLab user-data: with TLS %v, ExternalURL must start with %s and KASURL with %s", g.TLS != nil, web, kas)
	}
	return nil
}

// secretsEnv is the root-only file the bootstrap script sources, then shreds.
func secretsEnv(g GitLab) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"GITLAB_PACKAGE", g.Package},
		{"GITLAB_VERSION", g.Version},
		{"GITLAB_ROOT_PASSWORD", g.RootPassword},
		{"GITLAB_ADMIN_TOKEN", g.AdminToken},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell: a single-quoted word, with each
// single quote closed, escaped and reopened.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// rubyString escapes s for a single-quoted Ruby literal.
func rubyString(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

package cloudinit

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"text/template"
)

//go:embed gitlab.rb.tmpl
var gitlabRBTemplate string

// Paths on the GitLab host that gitlab.rb names; the host scripts write the
// files there (package hostscripts).
const (
	TLSCertPath = "/etc/gitlab/ssl/gitlab-kapsule.crt"
	TLSKeyPath  = "/etc/gitlab/ssl/gitlab-kapsule.key"
	// KASKeyPath is a copy of the key readable by the git group: KAS runs as git.
	KASKeyPath = "/etc/gitlab/ssl/gitlab-kapsule-kas.key"
	// DefaultKASPort is the agent server's port for agentk.
	DefaultKASPort = 8150
	// UserIDsPath is where the host scripts record the numeric ids of
	// GitLab's system users, on the data volume; gitlab.rb loads it.
	UserIDsPath = "/etc/gitlab/gitlab-kapsule-ids.rb"
)

// GitLab is everything gitlab.rb is rendered from.
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
	// TLS makes GitLab serve HTTPS and KAS grpcs with the certificate at
	// TLSCertPath; ExternalURL and KASURL must then be https:// and grpcs://.
	TLS bool
}

// templateData is what gitlab.rb.tmpl sees.
type templateData struct {
	GitLab
	TLSCertPath, TLSKeyPath, KASKeyPath, UserIDsPath string
}

// GitLabRB returns Omnibus's configuration, which holds no secret.
func GitLabRB(g GitLab) (string, error) {
	if err := g.check(); err != nil {
		return "", err
	}
	tmpl, err := template.New("gitlab.rb").Funcs(template.FuncMap{"rb": rubyString}).Option("missingkey=error").Parse(gitlabRBTemplate)
	if err != nil {
		return "", fmt.Errorf("parse gitlab.rb template: %w", err)
	}
	var out bytes.Buffer
	data := templateData{GitLab: g, TLSCertPath: TLSCertPath, TLSKeyPath: TLSKeyPath, KASKeyPath: KASKeyPath, UserIDsPath: UserIDsPath}
	if err := tmpl.Execute(&out, data); err != nil {
		return "", fmt.Errorf("render gitlab.rb: %w", err)
	}
	return out.String(), nil
}

func (g GitLab) check() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"ExternalURL", g.ExternalURL}, {"PrivateIP", g.PrivateIP}, {"NetworkCIDR", g.NetworkCIDR}, {"KASURL", g.KASURL},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if g.KASPort == 0 {
		missing = append(missing, "KASPort")
	}
	if len(missing) > 0 {
		return fmt.Errorf("render gitlab.rb: %s not set", strings.Join(missing, ", "))
	}
	return g.checkSchemes()
}

// checkSchemes keeps the URLs consistent with TLS: a certificate GitLab
// serves but the URLs ignore (or the reverse) would break agentk's connection.
func (g GitLab) checkSchemes() error {
	web, kas := "http://", "grpc://"
	if g.TLS {
		web, kas = "https://", "grpcs://"
	}
	if !strings.HasPrefix(g.ExternalURL, web) || !strings.HasPrefix(g.KASURL, kas) {
		return fmt.Errorf("render gitlab.rb: with TLS %v, ExternalURL must start with %s and KASURL with %s", g.TLS, web, kas)
	}
	return nil
}

// rubyString escapes s for a single-quoted Ruby literal.
func rubyString(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

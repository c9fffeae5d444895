package components

import (
	"fmt"
	"net"
	"strconv"

	"github.com/gitlab-kapsule/gitlab-kapsule/cloudinit"
)

// gitLabWeb is how GitLab's web UI and API answer on its private address:
// HTTPS on 443 with the private CA, or plain HTTP on 80 (gitlabHost:tls).
// Everything that reaches GitLab (its external_url, the readiness waits, the
// program's tunnel, Flux's clone URL) takes the scheme and port from here.
type gitLabWeb struct {
	scheme string
	port   int
}

// webOf is GitLab's web endpoint with or without TLS.
func webOf(tls bool) gitLabWeb {
	if tls {
		return gitLabWeb{scheme: "https", port: 443}
	}
	return gitLabWeb{scheme: "http", port: 80}
}

// url is the web URL on host, on the scheme's own port: "https://10.0.0.10".
func (w gitLabWeb) url(host string) string { return w.scheme + "://" + host }

// hostPort is host with the web port, as a dialer takes it.
func (w gitLabWeb) hostPort(host string) string { return net.JoinHostPort(host, strconv.Itoa(w.port)) }

// kasURL is where agentk dials KAS on GitLab's address: grpcs:// with TLS,
// grpc:// without.
func kasURL(ip string, tls bool) string {
	scheme := "grpc"
	if tls {
		scheme = "grpcs"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, ip, cloudinit.DefaultKASPort)
}

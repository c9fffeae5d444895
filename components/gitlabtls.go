package components

import (
	"fmt"

	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Certificate lifetimes. The server certificate lives 397 days, which every
// browser accepts (Apple's and Chrome's limit is 398 days, CA/Browser Forum
// Baseline Requirements 6.3.2), and is renewed by the first `up` in its last
// 30 days: pulumi-tls plans a LocallySignedCert for replacement once
// early_renewal_hours before its end is reached (terraform-provider-tls
// docs, locally_signed_cert "Automatic Renewal"), and GitLabConfigured then
// installs the new one. The CA, which agentk, Flux and browsers trust, stays.
const (
	caValidityHours         = 10 * 365 * 24
	serverValidityHours     = 397 * 24
	serverEarlyRenewalHours = 30 * 24
)

// gitLabCertificates are the stack's private CA and GitLab's server certificate.
type gitLabCertificates struct {
	// CACert is the CA certificate (PEM): agentk, Flux and the GitLab provider trust it.
	CACert pulumi.StringOutput
	// Cert is GitLab's certificate and Key its private key (secret).
	Cert, Key pulumi.StringOutput
}

// newGitLabCertificates creates a private CA and a certificate for GitLab's
// private address and internal DNS name, plus 127.0.0.1 and localhost, which
// is what a tunnel through the bastion presents to a browser or the program.
func newGitLabCertificates(ctx *pulumi.Context, name, prefix, privateIP string, dnsName pulumi.StringInput, parent pulumi.ResourceOption) (*gitLabCertificates, error) {
	caKey, err := newP256Key(ctx, name+"-ca-key", parent)
	if err != nil {
		return nil, fmt.Errorf("ca key: %w", err)
	}
	ca, err := tls.NewSelfSignedCert(ctx, name+"-ca", &tls.SelfSignedCertArgs{
		PrivateKeyPem:       caKey.PrivateKeyPem,
		IsCaCertificate:     pulumi.Bool(true),
		ValidityPeriodHours: pulumi.Int(caValidityHours),
		AllowedUses:         pulumi.ToStringArray([]string{"cert_signing", "crl_signing", "digital_signature"}),
		Subject:             &tls.SelfSignedCertSubjectArgs{CommonName: pulumi.String(prefix + " private CA"), Organization: pulumi.String("gitlab-kapsule")},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	key, err := newP256Key(ctx, name+"-tls-key", parent)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	csr, err := tls.NewCertRequest(ctx, name+"-tls-csr", &tls.CertRequestArgs{
		PrivateKeyPem: key.PrivateKeyPem,
		IpAddresses:   pulumi.ToStringArray([]string{privateIP, "127.0.0.1"}),
		DnsNames:      pulumi.StringArray{dnsName, pulumi.String("localhost")},
		Subject:       &tls.CertRequestSubjectArgs{CommonName: pulumi.String(privateIP), Organization: pulumi.String("gitlab-kapsule")},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	cert, err := tls.NewLocallySignedCert(ctx, name+"-tls-cert", &tls.LocallySignedCertArgs{
		CertRequestPem:      csr.CertRequestPem,
		CaPrivateKeyPem:     caKey.PrivateKeyPem,
		CaCertPem:           ca.CertPem,
		ValidityPeriodHours: pulumi.Int(serverValidityHours),
		EarlyRenewalHours:   pulumi.Int(serverEarlyRenewalHours),
		AllowedUses:         pulumi.ToStringArray([]string{"server_auth", "digital_signature", "key_encipherment"}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	return &gitLabCertificates{
		CACert: ca.CertPem,
		Cert:   cert.CertPem,
		Key:    pulumi.ToSecret(key.PrivateKeyPem).(pulumi.StringOutput),
	}, nil
}

// newP256Key is an ECDSA P-256 key, which every TLS client GitLab meets
// accepts (browsers, Go's crypto/tls for agentk, Flux and the program).
func newP256Key(ctx *pulumi.Context, name string, parent pulumi.ResourceOption) (*tls.PrivateKey, error) {
	return tls.NewPrivateKey(ctx, name, &tls.PrivateKeyArgs{
		Algorithm: pulumi.String("ECDSA"), EcdsaCurve: pulumi.String("P256"),
	}, parent)
}

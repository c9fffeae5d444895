package gitlabwait

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// Access are the inputs every resource shares: how to reach GitLab through
// the Public Gateway's SSH bastion, and how long to wait. Each resource's
// Args embed it.
type Access struct {
	// BastionHost is the Public Gateway's public address.
	BastionHost pulumi.StringInput `pulumi:"bastionHost"`
	// BastionPort is the SSH bastion port (Scaleway's default is 61000).
	BastionPort pulumi.IntInput `pulumi:"bastionPort"`
	// BastionUser is the bastion's login; Scaleway's when unset.
	BastionUser pulumi.StringPtrInput `pulumi:"bastionUser"`
	// PrivateKey is the OpenSSH private key the bastion trusts. Always sent as a secret.
	PrivateKey pulumi.StringInput `pulumi:"privateKey"`
	// HostKeyFingerprint pins the bastion's host key (SHA256:...); unset means trust on first use.
	HostKeyFingerprint pulumi.StringPtrInput `pulumi:"hostKeyFingerprint"`
	// TargetHost is GitLab's private address, reached from the bastion.
	TargetHost pulumi.StringInput `pulumi:"targetHost"`
	// TargetPort is GitLab's HTTP(S) port; the provider's default (80) when unset.
	TargetPort pulumi.IntPtrInput `pulumi:"targetPort"`
	// Scheme is "http" or "https"; the provider's default ("http") when unset.
	Scheme pulumi.StringPtrInput `pulumi:"scheme"`
	// CaCert is the PEM CA that signs GitLab's certificate when Scheme is https.
	CaCert pulumi.StringPtrInput `pulumi:"caCert"`
	// Timeout is the longest wait as a Go duration; the resource's default when unset.
	Timeout pulumi.StringPtrInput `pulumi:"timeout"`
	// PollInterval caps the backoff between attempts as a Go duration; the provider's default when unset.
	PollInterval pulumi.StringPtrInput `pulumi:"pollInterval"`
}

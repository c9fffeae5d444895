package components

import (
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// gitLabThroughBastion is how both readiness waits reach GitLab: through the
// bastion (the provider's default login, Scaleway's), with the automation
// key, to GitLab's web endpoint, trusting the private CA with TLS.
type gitLabThroughBastion struct {
	BastionHost pulumi.StringInput
	BastionPort int
	PrivateKey  pulumi.StringInput
	GitLabIP    pulumi.StringInput
	TLS         bool
	CACert      pulumi.StringInput
	Timeout     time.Duration
}

// access is the wait's shared inputs.
func (g gitLabThroughBastion) access() gitlabwait.Access {
	web := webOf(g.TLS)
	return gitlabwait.Access{
		BastionHost: g.BastionHost,
		BastionPort: pulumi.Int(g.BastionPort),
		PrivateKey:  g.PrivateKey,
		TargetHost:  g.GitLabIP,
		TargetPort:  pulumi.Int(web.port),
		Scheme:      pulumi.String(web.scheme),
		CaCert:      g.CACert,
		Timeout:     waitTimeout(g.Timeout),
	}
}

// waitTimeout is a readiness wait's timeout input: unset for zero, so the
// readiness provider's own default applies (it is the one home of those
// defaults), else the duration as the provider parses it.
func waitTimeout(d time.Duration) pulumi.StringPtrInput {
	if d <= 0 {
		return nil
	}
	return pulumi.String(d.String())
}

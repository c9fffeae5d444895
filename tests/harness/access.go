package harness

import (
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Access are a readiness wait's inputs through this bastion to a loopback
// GitLab stand-in at host:port, waiting at most timeout and polling at
// least every poll.
func (b *Bastion) Access(host string, port int, timeout, poll time.Duration) gitlabwait.Access {
	return gitlabwait.Access{
		BastionHost:  pulumi.String(b.Host),
		BastionPort:  pulumi.Int(b.Port),
		BastionUser:  pulumi.String(b.User),
		PrivateKey:   pulumi.String(b.PrivateKey),
		TargetHost:   pulumi.String(host),
		TargetPort:   pulumi.Int(port),
		Timeout:      pulumi.String(timeout.String()),
		PollInterval: pulumi.String(poll.String()),
	}
}

package components

import (
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// waitTimeout is a readiness wait's timeout input: unset for zero, so the
// readiness provider's own default applies (it is the one home of those
// defaults), else the duration as the provider parses it.
func waitTimeout(d time.Duration) pulumi.StringPtrInput {
	if d <= 0 {
		return nil
	}
	return pulumi.String(d.String())
}

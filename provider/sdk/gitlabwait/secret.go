package gitlabwait

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// secret marks an input as a secret, whatever the caller passed, so the engine
// encrypts it in state and hides it in diffs; nil (unset) stays nil.
func secret[T pulumi.Input](in T) T {
	if any(in) == nil {
		return in
	}
	return pulumi.ToSecret(in).(T)
}

package components

import (
	"fmt"
	"time"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The automation token is renewed by the first `up` of each renewal period
// and expires tokenLifetime after its period began. GitLab refuses a
// personal access token that expires more than 365 days after the day it is
// made (GitLab docs user/profile/personal_access_tokens.md, "Create a
// personal access token"; it expires at 00:00 UTC of its date), and the token
// is made on or after its period's first day, so 360 days always fits; a
// stack whose `up` runs at least once every 180 days never sees it expire.
const (
	tokenRenewalPeriod = 180 * 24 * time.Hour
	tokenLifetime      = 360 * 24 * time.Hour
	// tokenWarnAhead is how long before expiry `up` warns, for a stack left
	// alone past its renewal.
	tokenWarnAhead = 30 * 24 * time.Hour
)

// TokenRenewal is the automation token's renewal period at a moment.
type TokenRenewal struct {
	// PeriodStart is the first day of the period (YYYY-MM-DD): the token's
	// value is regenerated when it changes.
	PeriodStart string
	// ExpiresAt is the token's expiry date (YYYY-MM-DD).
	ExpiresAt string
	// RenewsAfter is the day from which the next `up` renews it.
	RenewsAfter string
}

// TokenRenewalAt returns the renewal period that now falls in: periods are
// tokenRenewalPeriod long and counted from the Unix epoch, so every run
// computes the same period without keeping state.
func TokenRenewalAt(now time.Time) TokenRenewal {
	start := time.Unix(0, 0).UTC().Add(now.UTC().Sub(time.Unix(0, 0)).Truncate(tokenRenewalPeriod))
	const day = "2006-01-02"
	return TokenRenewal{
		PeriodStart: start.Format(day),
		ExpiresAt:   start.Add(tokenLifetime).Format(day),
		RenewsAfter: start.Add(tokenRenewalPeriod).Format(day),
	}
}

// newAutomationToken generates the automation token's value for the renewal
// period: a new period replaces it, and GitLabConfigured installs the new
// value and revokes the old. Nobody copies a token from the UI.
func newAutomationToken(ctx *pulumi.Context, name string, renewal TokenRenewal, opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	token, err := random.NewRandomPassword(ctx, name+"-admin-token", &random.RandomPasswordArgs{
		Length: pulumi.Int(40), Special: pulumi.Bool(false),
		Keepers: pulumi.StringMap{"renewalPeriod": pulumi.String(renewal.PeriodStart)},
	}, opts...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("admin token: %w", err)
	}
	return pulumi.Sprintf("glk-%s", token.Result), nil
}

// warnOfTokenExpiry warns when the installed token expires soon: only a stack
// whose renewal failed, or whose clock is off, gets there.
func warnOfTokenExpiry(ctx *pulumi.Context, now time.Time, expiresAt string, res pulumi.Resource) {
	at, err := time.Parse("2006-01-02", expiresAt)
	if err != nil || at.Sub(now) > tokenWarnAhead {
		return
	}
	_ = ctx.Log.Warn(fmt.Sprintf("GitLab's automation token expires on %s: run `up` again to renew it; once it has expired the program can no longer manage GitLab", expiresAt),
		&pulumi.LogArgs{Resource: res})
}

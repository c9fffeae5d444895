package components

import (
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every moment of a period gets a token that expires within GitLab's 365
// days of that moment (the day it is made) and at least 180 days after it,
// so a stack whose up runs every 180 days never holds an expired token.
func TestTokenRenewalStaysWithinGitLabsLimit(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	for at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); at.Before(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)); at = at.Add(7*day + 5*time.Hour) {
		r := TokenRenewalAt(at)
		start, err := time.Parse(time.DateOnly, r.PeriodStart)
		require.NoError(t, err)
		expires, err := time.Parse(time.DateOnly, r.ExpiresAt)
		require.NoError(t, err)
		renews, err := time.Parse(time.DateOnly, r.RenewsAfter)
		require.NoError(t, err)
		assert.False(t, at.Before(start), "%s: the period has begun", at)
		assert.True(t, at.Before(renews), "%s: and not ended", at)
		assert.LessOrEqual(t, expires.Sub(at.Truncate(day)), 365*day, "%s: GitLab refuses a token over 365 days", at)
		assert.GreaterOrEqual(t, expires.Sub(renews), 180*day, "%s: valid 180 days past its renewal", at)
		assert.Equal(t, r, TokenRenewalAt(start), "%s: one period, one token", at)
	}
	assert.NotEqual(t, TokenRenewalAt(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)), TokenRenewalAt(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Add(180*day)))
}

// The token's value follows the renewal period (the RandomPassword's
// keeper), and GitLabConfigured installs it with that period's expiry.
func TestAutomationTokenIsRenewedEachPeriod(t *testing.T) {
	t.Parallel()
	run := func(now time.Time) (keeper, expires string) {
		cloud, err := mockcloud.Run("t", nil, nil, func(ctx *pulumi.Context) error {
			_, err := NewGitLabHost(ctx, "gitlab", &GitLabHostArgs{
				Prefix: "glk-t", Zone: "fr-par-1", InstanceType: "PRO2-XS", Image: "ubuntu_noble", DiskSizeGB: 50,
				DataVolumeSizeGB: 100, RetainDataVolume: true, Package: "gitlab-ce", Version: "18.5.2-ce.0",
				PrivateIP: "10.0.0.10", IPAMID: pulumi.String("ipam"), CIDR: "10.0.0.0/24",
				PrivateNetworkID: pulumi.String("pn"), PrivateNetworkName: pulumi.String("glk-t-pn"),
				BastionHost: pulumi.String(mockcloud.GatewayIP), BastionPort: 61000, AutomationPrivateKey: pulumi.String("key"),
				TLS: true, Now: now,
			})
			return err
		})
		require.NoError(t, err)
		token, ok := cloud.Named("gitlab-admin-token")
		require.True(t, ok)
		configured, ok := cloud.Named("gitlab-configured")
		require.True(t, ok)
		return token.Inputs["keepers"].ObjectValue()["renewalPeriod"].StringValue(), configured.Inputs["adminTokenExpiresAt"].StringValue()
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	r := TokenRenewalAt(now)
	keeper, expires := run(now)
	assert.Equal(t, r.PeriodStart, keeper)
	assert.Equal(t, r.ExpiresAt, expires)

	sameKeeper, _ := run(now.Add(time.Hour))
	assert.Equal(t, keeper, sameKeeper, "a second up in the period keeps the token")
	next, _ := time.Parse(time.DateOnly, r.RenewsAfter)
	nextKeeper, nextExpires := run(next)
	assert.NotEqual(t, keeper, nextKeeper, "the first up of the next period renews it")
	assert.Greater(t, nextExpires, expires)
}

package sim_test

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/bench/sim"
	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	typeGitLabConfig = "gitlabwait:index:GitLabConfigured"
	typeServer       = "scaleway:instance/server:Server"
	typePrivateNIC   = "scaleway:instance/privateNic:PrivateNic"
)

func day2(t *testing.T, in sim.Day2Inputs) *sim.Day2 {
	t.Helper()
	d, err := in.Compute()
	require.NoError(t, err)
	return d
}

func operations(d *sim.Day2) []sim.Operation { return []sim.Operation{d.Upgrade, d.Replacement} }

// Every step's duration is the latency table's figure (less the steps it
// names, which must come earlier in the same operation), or a documented
// figure or an estimate that says where it comes from.
func TestDay2StepsComeFromTheTableOrACitedFigure(t *testing.T) {
	table := sim.DefaultLatencies()
	d := day2(t, sim.DefaultDay2())
	for _, o := range operations(d) {
		require.NotEmpty(t, o.Steps, o.Name)
		for i, s := range o.Steps {
			assert.Positive(t, s.Duration, "%s: %s", o.Name, s.Name)
			switch s.Source.Kind {
			case sim.FromLatencyTable:
				want, ok := table.ByType[s.Source.Type]
				require.True(t, ok, "%s: %s names %q, which is not a row of the latency table", o.Name, s.Name, s.Source.Type)
				for _, m := range s.Source.Minus {
					j := slices.IndexFunc(o.Steps, func(x sim.Step) bool { return x.Name == m })
					require.True(t, j >= 0 && j < i, "%s: %s subtracts %q, which is not an earlier step", o.Name, s.Name, m)
					want -= o.Steps[j].Duration
				}
				assert.Equal(t, want, s.Duration, "%s: %s", o.Name, s.Name)
			case sim.Documented, sim.Estimate:
				assert.Empty(t, s.Source.Type, "%s: %s", o.Name, s.Name)
				assert.NotEmpty(t, s.Source.Cite, "%s: %s has no source", o.Name, s.Name)
			default:
				t.Errorf("%s: %s has no source kind", o.Name, s.Name)
			}
		}
	}
}

func TestDay2TotalsAreTheSumsOfTheirSteps(t *testing.T) {
	d := day2(t, sim.DefaultDay2())
	for _, o := range operations(d) {
		var total, down time.Duration
		downSteps := []int{}
		for i, s := range o.Steps {
			total += s.Duration
			if s.Down {
				down += s.Duration
				downSteps = append(downSteps, i)
			}
		}
		assert.Equal(t, total, o.Total(), o.Name)
		assert.Equal(t, down, o.Downtime(), o.Name)
		require.NotEmpty(t, downSteps, o.Name)
		// One outage, through to readiness: the down steps are contiguous
		// and the last step is down.
		assert.Equal(t, len(o.Steps)-1, downSteps[len(downSteps)-1], o.Name)
		assert.Equal(t, len(downSteps)-1, downSteps[len(downSteps)-1]-downSteps[0], "%s: the down steps are not contiguous", o.Name)
	}
	b := d.Backup
	assert.Equal(t, b.Create+b.Upload, b.Total())
}

// The upgrade backs up to the bucket while GitLab still serves, before the
// step that stops it; the replacement removes the old server before it
// creates the new one, because the data volume attaches to one server.
func TestDay2Order(t *testing.T) {
	d := day2(t, sim.DefaultDay2())
	idx := func(o sim.Operation, name string) int {
		i := slices.IndexFunc(o.Steps, func(s sim.Step) bool { return s.Name == name })
		require.GreaterOrEqual(t, i, 0, "%s has no step %q", o.Name, name)
		return i
	}
	u := d.Upgrade
	firstDown := slices.IndexFunc(u.Steps, func(s sim.Step) bool { return s.Down })
	assert.Less(t, idx(u, sim.StepBackupCreate), idx(u, sim.StepBackupUpload))
	assert.Less(t, idx(u, sim.StepBackupUpload), firstDown, "the backup is uploaded before GitLab stops")
	assert.Less(t, idx(u, sim.StepDownload), firstDown, "apt-get downloads before dpkg stops anything")
	create, _ := u.Step(sim.StepBackupCreate)
	assert.Equal(t, d.Backup.Create, create.Duration)
	upload, _ := u.Step(sim.StepBackupUpload)
	assert.Equal(t, d.Backup.Upload, upload.Duration)

	r := d.Replacement
	assert.Less(t, idx(r, sim.StepDeleteServer), idx(r, sim.StepCreateServer))

	// Without a bucket there is no full backup, only Omnibus's database one.
	in := sim.DefaultDay2()
	in.Bucket = false
	nb := day2(t, in)
	_, ok := nb.Upgrade.Step(sim.StepBackupCreate)
	assert.False(t, ok)
	assert.Less(t, nb.Upgrade.Total(), d.Upgrade.Total())
	assert.Equal(t, d.Upgrade.Downtime(), nb.Upgrade.Downtime(), "the outage does not depend on the backup")
}

// The figures follow the latency table: a change in it changes exactly the
// operations that use that row, by exactly the change.
func TestDay2FollowsTheLatencyTable(t *testing.T) {
	base := day2(t, sim.DefaultDay2())
	const more = 90 * time.Second
	with := func(typ string) *sim.Day2 {
		in := sim.DefaultDay2()
		in.Latencies.ByType[typ] += more
		return day2(t, in)
	}

	c := with(typeGitLabConfig)
	assert.Equal(t, base.Upgrade.Downtime()+more, c.Upgrade.Downtime())
	assert.Equal(t, base.Upgrade.Total()+more, c.Upgrade.Total())
	assert.Equal(t, base.Replacement.Downtime()+more, c.Replacement.Downtime())

	sv := with(typeServer)
	assert.Equal(t, base.Upgrade, sv.Upgrade, "an upgrade creates no server")
	assert.Equal(t, base.Replacement.Downtime()+more, sv.Replacement.Downtime())

	n := with(typePrivateNIC)
	assert.Equal(t, base.Replacement.Downtime()+more, n.Replacement.Downtime())

	in := sim.DefaultDay2()
	delete(in.Latencies.ByType, typeGitLabConfig)
	_, err := in.Compute()
	assert.ErrorContains(t, err, typeGitLabConfig, "a row the model needs is missing")
}

func TestDay2Backup(t *testing.T) {
	in := sim.DefaultDay2()
	b := day2(t, in).Backup
	assert.Equal(t, in.RepositoriesGB+in.DatabaseGB+in.UploadsGB, b.DataGB)
	assert.LessOrEqual(t, b.ArchiveGB, b.DataGB, "an upper bound: the archive never exceeds the data")
	assert.Equal(t, 2*b.ArchiveGB, b.PeakLocalGB, "parts and archive together")
	assert.InDelta(t, in.DataVolumeGB, b.MaxDataGB+2*b.MaxDataGB*b.ArchiveGB/b.DataGB, 1e-9, "the most data that fits with its backup")
	// Upload time is the archive over the smaller bandwidth, 10⁹-byte GB.
	assert.InDelta(t, b.ArchiveGB*8e9/(b.BandwidthMbps*1e6), b.Upload.Seconds(), 0.5)

	// Twice the data: the archive, the creation and the upload scale with it.
	in2 := in
	in2.RepositoriesGB, in2.DatabaseGB, in2.UploadsGB = 2*in.RepositoriesGB, 2*in.DatabaseGB, 2*in.UploadsGB
	b2 := day2(t, in2).Backup
	assert.InDelta(t, 2*b.ArchiveGB, b2.ArchiveGB, 1e-9)
	assert.InDelta(t, 2*b.Create.Seconds(), b2.Create.Seconds(), 1)
	assert.InDelta(t, 2*b.Upload.Seconds(), b2.Upload.Seconds(), 1)

	// The single-PUT limit is the archive's, not the data's.
	small := in
	small.RepositoriesGB, small.DatabaseGB = 1, 0.5
	assert.True(t, day2(t, small).Backup.FitsSinglePut)
	assert.Equal(t, b.ArchiveGB <= 5, b.FitsSinglePut)

	// A faster gateway moves only the upload (the instance is then the limit).
	fast := in
	fast.GatewayType = "VPC-GW-M"
	bf := day2(t, fast).Backup
	assert.Greater(t, bf.BandwidthMbps, b.BandwidthMbps)
	assert.Less(t, bf.Upload, b.Upload)
	assert.Equal(t, b.Create, bf.Create)
}

func TestDay2RefusesWhatItCannotSource(t *testing.T) {
	in := sim.DefaultDay2()
	in.InstanceType = "GPU-3070-S"
	_, err := in.Compute()
	assert.ErrorContains(t, err, "GPU-3070-S")

	in = sim.DefaultDay2()
	in.PackageGB = 1000 // longer to download than the table's whole configuration
	_, err = in.Compute()
	assert.ErrorContains(t, err, typeGitLabConfig)
}

// The reference case is the program's defaults.
func TestDefaultDay2IsTheProgramsDefaults(t *testing.T) {
	in, def := sim.DefaultDay2(), config.Defaults().GitLab
	assert.Equal(t, def.InstanceType, in.InstanceType)
	assert.Equal(t, float64(def.DataVolumeSizeGB), in.DataVolumeGB)
	assert.Equal(t, sim.DefaultLatencies(), in.Latencies)
	assert.True(t, in.Bucket, "backup:enabled defaults to true")
	timeout, err := time.ParseDuration(provider.DefaultUpgradeTimeout)
	require.NoError(t, err)
	assert.Equal(t, timeout, in.ConfigureTimeout, "an upgrade's default timeout")
}

// MaxUpgradeDataGB is where the upgrade, backup included, reaches
// GitLabConfigured's timeout: an upgrade with that much data takes the
// timeout (to rounding), and the figure moves with the timeout.
func TestDay2UpgradeFitsTheTimeout(t *testing.T) {
	in := sim.DefaultDay2()
	d := day2(t, in)
	require.Positive(t, d.MaxUpgradeDataGB)

	at := in
	at.RepositoriesGB, at.DatabaseGB, at.UploadsGB = d.MaxUpgradeDataGB, 0, 0
	assert.InDelta(t, in.ConfigureTimeout.Seconds(), day2(t, at).Upgrade.Total().Seconds(), 5)
	assert.Equal(t, d.Upgrade.Total() <= in.ConfigureTimeout, d.Backup.DataGB <= d.MaxUpgradeDataGB)

	longer := in
	longer.ConfigureTimeout += time.Hour
	assert.Greater(t, day2(t, longer).MaxUpgradeDataGB, d.MaxUpgradeDataGB)
	slower := in
	slower.Latencies.ByType[typeGitLabConfig] += 10 * time.Minute
	assert.Less(t, day2(t, slower).MaxUpgradeDataGB, d.MaxUpgradeDataGB)
}

func TestDay2Output(t *testing.T) {
	d := day2(t, sim.DefaultDay2())
	var buf bytes.Buffer
	require.NoError(t, d.Write(&buf))
	out := buf.String()
	for _, o := range operations(d) {
		for _, s := range o.Steps {
			assert.Contains(t, out, s.Name)
		}
		assert.Contains(t, out, sim.Dur(o.Downtime()))
	}
	figs := d.Figures()
	require.Len(t, figs, 5)
	assert.Equal(t, sim.Dur(d.Upgrade.Downtime()), figs[0].Value)
	assert.Equal(t, sim.Dur(d.Upgrade.Total()), figs[1].Value)
	assert.Equal(t, sim.Dur(d.Replacement.Downtime()), figs[2].Value)
	gb, err := strconv.ParseFloat(strings.TrimSuffix(figs[3].Value, " GB"), 64)
	require.NoError(t, err, figs[3].Value)
	assert.InDelta(t, d.MaxUpgradeDataGB, gb, 0.05)
	assert.True(t, strings.HasSuffix(figs[4].Value, sim.Dur(d.Backup.Total())), figs[4].Value)
	for _, f := range figs {
		assert.NotContains(t, f.Name+f.Value+f.Detail, "|", "breaks the Markdown table")
	}
}

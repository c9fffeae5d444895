package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
)

// The day-2 model: an upgrade of GitLab and a replacement of its host, each
// a sequence of steps with durations, and the size and time of a backup.
// Every duration comes from the latency table (Day2Inputs.Latencies,
// DefaultLatencies by default), from a documented figure cited where it is
// defined below, or is an estimate, marked so. Nothing here is measured: a
// real run is what confirms the figures (docs/performance.md, "Day 2").

// SourceKind says where a step's duration comes from.
type SourceKind int

const (
	// FromLatencyTable: the latency table's figure for Source.Type, less
	// the steps named in Source.Minus that the figure already includes.
	FromLatencyTable SourceKind = iota + 1
	// Documented: a documented figure, cited in Source.Cite.
	Documented
	// Estimate: nothing documented; Source.Cite gives the reasoning.
	Estimate
)

func (k SourceKind) String() string {
	switch k {
	case FromLatencyTable:
		return "latency table"
	case Documented:
		return "documented"
	case Estimate:
		return "estimate"
	}
	return fmt.Sprintf("SourceKind(%d)", int(k))
}

// Source is where one step's duration comes from.
type Source struct {
	Kind SourceKind
	// Type is the latency table's type token (FromLatencyTable).
	Type string
	// Minus names earlier steps of the same operation that the table's
	// figure already includes (FromLatencyTable).
	Minus []string
	// Cite is the source or, for an estimate, its reasoning.
	Cite string
}

// Step is one step of a day-2 operation.
type Step struct {
	Name     string
	Duration time.Duration
	Source   Source
	// Down: GitLab does not serve while the step runs.
	Down bool
}

// Operation is a day-2 operation as `up` runs it, step after step.
type Operation struct {
	Name  string
	Steps []Step
}

// Total is how long the operation takes: the sum of its steps.
func (o Operation) Total() time.Duration {
	var t time.Duration
	for _, s := range o.Steps {
		t += s.Duration
	}
	return t
}

// Downtime is how long GitLab does not serve: the sum of the steps that are
// Down. Both operations keep their down steps contiguous, from the first
// that stops GitLab to readiness.
func (o Operation) Downtime() time.Duration {
	var t time.Duration
	for _, s := range o.Steps {
		if s.Down {
			t += s.Duration
		}
	}
	return t
}

// Step returns the step of that name.
func (o Operation) Step(name string) (Step, bool) {
	i := slices.IndexFunc(o.Steps, func(s Step) bool { return s.Name == name })
	if i < 0 {
		return Step{}, false
	}
	return o.Steps[i], true
}

// Documented figures, each with its source.
const (
	// backupTimePer100GB: "100 GB of Git repositories took a little over 2
	// hours to back up and upload to S3" (GitLab docs
	// doc/administration/backup_restore/backup_gitlab.md, "Git
	// repositories", citing gitlab-org/gitlab#396343; gitlabhq/gitlabhq
	// 00ea8056). It includes GitLab's own upload to S3, which the model
	// adds again as a separate step, so the backup time is pessimistic.
	// The database and uploads are taken at the same rate: the docs give no
	// figure for them (pg_dump "is likely not usable" over 100 GB).
	backupTimePer100GB = 2 * time.Hour

	// stagingFactor: gitlab-backup writes every part (database dump, Git
	// bundles, file tarballs) into the staging directory, which is the
	// directory the archive is made in, tars them into the archive and only
	// then removes them (GitLab docs
	// doc/administration/backup_restore/backup_archive_process.md, "Backup
	// staging directory"; gitlabhq/gitlabhq 017a6c12): the parts and the
	// archive are on disk together. STRATEGY=copy, which
	// gitlab-kapsule-backup passes, copies files before tarring them, "up
	// to an additional 1X disk space", cleaned up at each stage
	// (backup_gitlab.md, "Backup strategy option"), which stays within
	// that peak. /var/opt/gitlab/backups is on the data volume.
	stagingFactor = 2

	// singlePutLimitGB: S3's largest object in one PUT is 5 GB (AWS
	// documentation, Amazon S3 "Uploading objects"); Scaleway documents
	// multipart uploads for large objects, parts of at most 5 GB and 1000
	// parts (scaleway/docs-content pages/object-storage/faq.mdx, "How can
	// I upload large objects?"). gitlab-kapsule-backup uploads the archive
	// with one `curl -T` PUT. Whether Scaleway refuses a larger single PUT
	// only a real run confirms.
	singlePutLimitGB = 5.0
)

// bandwidthMbps is the documented bandwidth of the instance types and
// Public Gateway types the program uses, in Mbit/s. The GitLab host has no
// public address: its traffic to Object Storage and packages.gitlab.com
// goes through the Public Gateway (components/network.go, VPC-GW-S), so a
// transfer runs at the smaller of the two.
var bandwidthMbps = map[string]float64{
	// Instance types: maximum public bandwidth, internet_bandwidth
	// 350000000 and 700000000 bit/s in terraform-provider-scaleway's
	// recorded server types (internal/services/instance/testdata,
	// b2d45ed4), "350 MB" and "700 MB" in scaleway-cli's
	// test-server-type-list-on-fr-par1.golden (c2d470d8, MaxPublicBandwidth).
	"PRO2-XXS": 350,
	"PRO2-XS":  700,
	// Public Gateways: the VPC-GW API's bandwidth field, 100 for VPC-GW-S
	// and 1000 for VPC-GW-M in terraform-provider-scaleway's cassettes
	// (internal/services/vpcgw/testdata/vpc-public-gateway-basic and
	// -upgrade.cassette.yaml, b2d45ed4). The SDK comment says "in bps"
	// (scaleway-sdk-go api/vpcgw/v2, 2c5cd81b); Mbit/s is inferred from
	// the values.
	"VPC-GW-S": 100,
	"VPC-GW-M": 1000,
}

// Estimates: nothing documented was found for these.
const (
	// A `gitlab-rails runner` boots Rails once: the background-migration
	// check before an upgrade (gitlab-kapsule-apply
	// wait_for_background_migrations), assuming none is pending.
	estRailsRunner = 45 * time.Second
	// The Omnibus .deb that apt-get downloads (GitLab 18 CE, amd64).
	estPackageGB = 1.5
	// Archive size per GB of data: Git bundles hold about what the
	// repositories hold (more with forks, whose pool data every fork's
	// bundle repeats: backup_gitlab.md, "Git repositories"); the database
	// dump and the file tarballs are gzip -1 (backup_gitlab.md, "Backup
	// compression"), which never grows them much. 1 is the upper bound; a
	// pg_dump without indexes is usually far smaller than the database.
	estArchiveRatio = 1.0
	// Deleting the private NIC (hot-unplug, IPAM release).
	estNICDelete = 10 * time.Second
	// Terminating the old server: the provider first brings it to running,
	// then the terminate action stops it, detaches its sbs volumes ("sbs_volume
	// volumes will only be detached", scaleway-sdk-go api/instance/v1
	// ServerActionTerminate, 2c5cd81b) and deletes it; the stop takes the time.
	estServerDelete = 60 * time.Second
)

// Day2Inputs parametrises the day-2 model.
type Day2Inputs struct {
	// Latencies is the latency table (DefaultLatencies): GitLabConfigured,
	// the server and the NIC.
	Latencies Latencies
	// RepositoriesGB, DatabaseGB and UploadsGB size GitLab's data.
	RepositoriesGB, DatabaseGB, UploadsGB float64
	// InstanceType and GatewayType give the bandwidth (bandwidthMbps).
	InstanceType, GatewayType string
	// DataVolumeGB is the data volume's size (gitlabHost:dataVolumeSizeGb).
	DataVolumeGB float64
	// PackageGB is the Omnibus package's size.
	PackageGB float64
	// Bucket: backups are on (backup:enabled), so an upgrade backs up to
	// the bucket first; without, Omnibus's preinst backs up the database only.
	Bucket bool
	// ConfigureTimeout is GitLabConfigured's timeout of an upgrade (an
	// update that changes packageVersion), which the whole upgrade run,
	// backup included, must fit in.
	ConfigureTimeout time.Duration
}

// DefaultDay2 is the reference case docs/performance.md reports: 10 GB of
// repositories and a 2 GB database on the program's defaults
// (config.Defaults: instance type, data volume) behind the VPC-GW-S
// gateway (components/network.go), with backups on.
func DefaultDay2() Day2Inputs {
	d := config.Defaults().GitLab
	// The program leaves GitLabConfigured's timeout at the provider's
	// default (components/gitlabhost.go ReadyTimeout zero), which for an
	// upgrade is DefaultUpgradeTimeout.
	timeout, err := time.ParseDuration(provider.DefaultUpgradeTimeout)
	if err != nil {
		panic(err)
	}
	return Day2Inputs{
		Latencies:      DefaultLatencies(),
		RepositoriesGB: 10, DatabaseGB: 2,
		InstanceType: d.InstanceType, GatewayType: "VPC-GW-S",
		DataVolumeGB: float64(d.DataVolumeSizeGB),
		PackageGB:    estPackageGB,
		Bucket:       true,

		ConfigureTimeout: timeout,
	}
}

// Backup is the size and time of one full backup (gitlab-kapsule-backup).
type Backup struct {
	// DataGB is what is backed up; ArchiveGB the archive uploaded.
	DataGB, ArchiveGB float64
	// PeakLocalGB is the free space the data volume needs while it runs.
	PeakLocalGB float64
	// MaxDataGB is the most data the volume holds and can still back up
	// locally: data + PeakLocalGB ≤ the volume.
	MaxDataGB float64
	// Create is gitlab-backup create; Upload the transfer to the bucket.
	Create, Upload time.Duration
	// BandwidthMbps is the upload's bandwidth.
	BandwidthMbps float64
	// FitsSinglePut: the archive is within S3's single-PUT limit.
	FitsSinglePut bool
}

// Total is the backup's duration, creation and upload.
func (b Backup) Total() time.Duration { return b.Create + b.Upload }

// Day2 is the model's result.
type Day2 struct {
	Inputs      Day2Inputs
	Backup      Backup
	Upgrade     Operation
	Replacement Operation
	// MaxUpgradeDataGB is the most data whose backup still lets the
	// upgrade finish within Inputs.ConfigureTimeout (with a bucket; 0
	// when even no data would not fit).
	MaxUpgradeDataGB float64
}

// Names of steps that others refer to.
const (
	StepBackupCreate   = "backup: gitlab-backup create STRATEGY=copy"
	StepBackupUpload   = "backup: upload archive and /etc/gitlab to the bucket"
	StepDownload       = "install: apt-get downloads the package"
	StepUpgradeDown    = "install: dpkg unpacks, gitlab-ctl upgrade (stop, migrations, restart), reconfigure, secrets, readiness"
	StepDeleteServer   = "delete the old server (terminate: stop, detach the data volume, delete)"
	StepCreateServer   = "create the new server with the data volume"
	StepConfigureAgain = "GitLabConfigured on the new host: mount the volume, install, reconfigure, secrets, readiness"
)

// Compute runs the model.
func (in Day2Inputs) Compute() (*Day2, error) {
	bw, err := in.bandwidth()
	if err != nil {
		return nil, err
	}
	lat := func(typ string) (time.Duration, error) {
		return in.Latencies.Of(Resource{Type: typ, Name: typ, Custom: true})
	}
	configured, err := lat(typeGitLabConfig)
	if err != nil {
		return nil, err
	}
	server, err := lat(typeServer)
	if err != nil {
		return nil, err
	}
	nic, err := lat(typePrivateNIC)
	if err != nil {
		return nil, err
	}

	b := in.backup(bw)
	d := &Day2{Inputs: in, Backup: b}

	// The upgrade: GitLabConfigured runs gitlab-kapsule-apply again with the
	// new version (hostscripts/gitlab-kapsule-apply, its step order).
	download := transfer(in.PackageGB, bw)
	if download >= configured {
		return nil, fmt.Errorf("sim: downloading the %.1f GB package at %.0f Mbit/s takes %s, more than the latency table's whole %s for %s: the table or the inputs are wrong",
			in.PackageGB, bw, Dur(download), Dur(configured), typeGitLabConfig)
	}
	up := []Step{{
		Name: "backup_before_upgrade: background migrations finished? (gitlab-rails runner)", Duration: estRailsRunner,
		Source: Source{Kind: Estimate, Cite: "one Rails boot; assumes none pending (GitLab docs doc/update/background_migrations.md: an upgrade waits for them)"},
	}}
	if in.Bucket {
		up = append(up,
			Step{Name: StepBackupCreate, Duration: b.Create, Source: Source{Kind: Documented,
				Cite: fmt.Sprintf("%s GB at 100 GB in %s (GitLab docs backup_gitlab.md, \"Git repositories\"); GitLab keeps serving", num(b.DataGB), hours(backupTimePer100GB))}},
			Step{Name: StepBackupUpload, Duration: b.Upload, Source: Source{Kind: Estimate,
				Cite: fmt.Sprintf("%s GB at %.0f Mbit/s, the documented bandwidth of %s and %s, the smaller, used in full", num(b.ArchiveGB), bw, in.InstanceType, in.GatewayType)}},
		)
	} else {
		up = append(up, Step{
			Name:     "install: Omnibus preinst backs up the database only (no bucket)",
			Duration: scaleByRate(in.DatabaseGB * estArchiveRatio),
			Source: Source{Kind: Documented, Cite: fmt.Sprintf("%s GB at 100 GB in %s (backup_gitlab.md); omnibus-gitlab 440b1f83 config/templates/package-scripts/preinst.erb",
				num(in.DatabaseGB), hours(backupTimePer100GB))},
		})
	}
	up = append(up,
		Step{Name: StepDownload, Duration: download, Source: Source{Kind: Estimate,
			Cite: fmt.Sprintf("%.1f GB package (estimate) at %.0f Mbit/s; apt-get downloads before dpkg runs anything, GitLab still serves", in.PackageGB, bw)}},
		Step{Name: StepUpgradeDown, Duration: configured - download, Down: true, Source: Source{Kind: FromLatencyTable, Type: typeGitLabConfig, Minus: []string{StepDownload},
			Cite: "the first install's figure (download, install, reconfigure, secrets, readiness) stands for the upgrade's; " +
				"down from dpkg unpacking over the running GitLab (GitLab docs doc/update/package: a single node is not available while it upgrades; " +
				"omnibus-gitlab 440b1f83 files/gitlab-ctl-commands/upgrade.rb stops all but the migration services) to readiness"}},
	)
	d.Upgrade = Operation{Name: "upgrade (gitlabHost:version changed)", Steps: up}
	if in.Bucket {
		// The backup grows with the data, the rest does not.
		rest := (d.Upgrade.Total() - b.Total()).Seconds()
		d.MaxUpgradeDataGB = math.Max(0, (in.ConfigureTimeout.Seconds()-rest)/backupSecondsPerGB(bw))
	}

	// The replacement, in the only order that can work: one volume attaches
	// to one server (the Scaleway CLI refuses to create a server with a
	// volume that has a reference, scaleway-cli c2d470d8
	// internal/namespaces/instance/v1/custom_server_create_builder.go and
	// test-create-server-errors-error-already-attached-additional-volume-id;
	// the CSI driver offers SINGLE_NODE_WRITER only, scaleway/scaleway-csi
	// driver/controller.go 1051e3b5), and the reserved private address sits
	// on the old NIC. So the old NIC and server go first (delete before
	// replace), and GitLab is down from the first step to readiness.
	d.Replacement = Operation{Name: "host replacement (a zone or image change forces a new server)", Steps: []Step{
		{Name: "delete the old private NIC (frees the reserved address)", Duration: estNICDelete, Down: true,
			Source: Source{Kind: Estimate, Cite: "hot-unplug and IPAM release; GitLab is unreachable on its address from here"}},
		{Name: StepDeleteServer, Duration: estServerDelete, Down: true,
			Source: Source{Kind: Estimate, Cite: "terraform-provider-scaleway b2d45ed4 internal/services/instance/server.go terminateServer; sbs volumes are detached, not deleted (scaleway-sdk-go ServerActionTerminate)"}},
		{Name: StepCreateServer, Duration: server, Down: true,
			Source: Source{Kind: FromLatencyTable, Type: typeServer, Cite: "create and boot to running (AdditionalVolumeIds: the same volume)"}},
		{Name: "attach the new private NIC on the reserved address", Duration: nic, Down: true,
			Source: Source{Kind: FromLatencyTable, Type: typePrivateNIC}},
		{Name: StepConfigureAgain, Duration: configured, Down: true,
			Source: Source{Kind: FromLatencyTable, Type: typeGitLabConfig, Cite: "a new instanceId is a full run; the volume already has a filesystem, so no mkfs"}},
	}}
	return d, nil
}

// bandwidth is the smaller of the instance's and the gateway's.
func (in Day2Inputs) bandwidth() (float64, error) {
	host, ok := bandwidthMbps[in.InstanceType]
	if !ok {
		return 0, fmt.Errorf("sim: no documented bandwidth for instance type %q: add it to bandwidthMbps with its source", in.InstanceType)
	}
	gw, ok := bandwidthMbps[in.GatewayType]
	if !ok {
		return 0, fmt.Errorf("sim: no documented bandwidth for gateway type %q: add it to bandwidthMbps with its source", in.GatewayType)
	}
	return math.Min(host, gw), nil
}

func (in Day2Inputs) backup(bw float64) Backup {
	data := in.RepositoriesGB + in.DatabaseGB + in.UploadsGB
	archive := data * estArchiveRatio
	b := Backup{
		DataGB: data, ArchiveGB: archive, PeakLocalGB: stagingFactor * archive,
		Create: scaleByRate(data), Upload: transfer(archive, bw),
		BandwidthMbps: bw, FitsSinglePut: archive <= singlePutLimitGB,
	}
	// data + stagingFactor × ratio × data ≤ volume.
	b.MaxDataGB = in.DataVolumeGB / (1 + stagingFactor*estArchiveRatio)
	return b
}

// backupSecondsPerGB is what one more GB of data adds to a backup:
// creating it and uploading its share of the archive.
func backupSecondsPerGB(mbps float64) float64 {
	return backupTimePer100GB.Seconds()/100 + estArchiveRatio*8e9/(mbps*1e6)
}

// scaleByRate is gitlab-backup create's time for gb of data.
func scaleByRate(gb float64) time.Duration {
	return time.Duration(gb / 100 * float64(backupTimePer100GB)).Round(time.Second)
}

// transfer is the time to move gb gigabytes (10⁹ bytes) at mbps Mbit/s.
func transfer(gb, mbps float64) time.Duration {
	return time.Duration(gb * 8e9 / (mbps * 1e6) * float64(time.Second)).Round(time.Second)
}

// Figure is one line of the figures table (bench/figures.Row's fields).
type Figure struct{ Name, Value, Detail string }

// Figures are the day-2 lines of bench/run's table.
func (d *Day2) Figures() []Figure {
	b, in := d.Backup, d.Inputs
	put := "over S3's 5 GB single-PUT limit: gitlab-kapsule-backup uploads it in parts (multipart from 100 MiB)"
	if b.FitsSinglePut {
		put = "within S3's 5 GB single-PUT limit (gitlab-kapsule-backup still uploads in parts from 100 MiB)"
	}
	return []Figure{
		{"day 2: upgrade downtime", Dur(d.Upgrade.Downtime()),
			fmt.Sprintf("model: from dpkg unpacking to readiness (%s less the package download)", typeGitLabConfig)},
		{"day 2: upgrade, whole up", Dur(d.Upgrade.Total()),
			fmt.Sprintf("backup first (%s), then install to readiness", Dur(b.Total()))},
		{"day 2: host replacement downtime", Dur(d.Replacement.Downtime()),
			"model: old NIC and server deleted first (one volume, one server), new server, NIC, GitLabConfigured"},
		{"day 2: most data an upgrade backs up within GitLabConfigured's timeout", num(d.MaxUpgradeDataGB) + " GB",
			fmt.Sprintf("the whole upgrade run, backup included, must fit in %s (provider DefaultUpgradeTimeout); the backup takes %.0f s per GB of data",
				Dur(in.ConfigureTimeout), backupSecondsPerGB(b.BandwidthMbps))},
		{fmt.Sprintf("day 2: backup of %s GB repositories + %s GB database + %s GB uploads", num(in.RepositoriesGB), num(in.DatabaseGB), num(in.UploadsGB)),
			fmt.Sprintf("%s GB, %s", num(b.ArchiveGB), Dur(b.Total())),
			fmt.Sprintf("create %s (GitLab docs: 100 GB in ~2 h), upload %s at %.0f Mbit/s; %s GB free on the data volume while it runs, so the %s GB volume backs up at most %s GB of data; %s",
				Dur(b.Create), Dur(b.Upload), b.BandwidthMbps, num(b.PeakLocalGB), num(in.DataVolumeGB), num(b.MaxDataGB), put)},
	}
}

// Write prints the model for people: each operation's steps with their
// sources, its total and downtime, and the backup.
func (d *Day2) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	for _, o := range []Operation{d.Upgrade, d.Replacement} {
		p("%s\n", o.Name)
		p("  step\tduration\tGitLab\tsource\n")
		for _, s := range o.Steps {
			state := "serves"
			if s.Down {
				state = "down"
			}
			p("  %s\t%s\t%s\t%s\n", s.Name, Dur(s.Duration), state, describe(s.Source))
		}
		p("  total\t%s\t\t\n", Dur(o.Total()))
		p("  downtime\t%s\t\t\n\n", Dur(o.Downtime()))
	}
	b := d.Backup
	p("backup\n")
	p("  data\t%s GB\t\t\n", num(b.DataGB))
	p("  archive\t%s GB\t\testimate: ≤ the data (Git bundles, gzip -1 dumps and tarballs)\n", num(b.ArchiveGB))
	p("  free space needed on the data volume\t%s GB\t\tdocumented: parts and archive together in the staging directory\n", num(b.PeakLocalGB))
	p("  most data the %s GB volume can back up locally\t%s GB\t\t\n", num(d.Inputs.DataVolumeGB), num(b.MaxDataGB))
	p("  gitlab-backup create\t%s\t\tdocumented: 100 GB in a little over 2 h, upload to S3 included\n", Dur(b.Create))
	p("  upload at %.0f Mbit/s\t%s\t\testimate: the documented bandwidth, used in full\n", b.BandwidthMbps, Dur(b.Upload))
	p("  total\t%s\t\t\n", Dur(b.Total()))
	p("  one PUT (≤ %s GB)\t%t\t\t\n", num(singlePutLimitGB), b.FitsSinglePut)
	if d.Inputs.Bucket {
		p("  most data an upgrade backs up within the %s timeout\t%s GB\t\t\n", Dur(d.Inputs.ConfigureTimeout), num(d.MaxUpgradeDataGB))
	}
	return tw.Flush()
}

func describe(s Source) string {
	out := s.Kind.String()
	if s.Type != "" {
		out += " " + s.Type
	}
	for _, m := range s.Minus {
		out += " less \"" + m + "\""
	}
	if s.Cite != "" {
		out += ": " + s.Cite
	}
	return out
}

// hours prints a whole number of hours: "2 h".
func hours(d time.Duration) string { return fmt.Sprintf("%.0f h", d.Hours()) }

// num prints a size without needless decimals: 12, 1.5, 33.3.
func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

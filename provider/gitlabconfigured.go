package provider

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/upgradepath"
)

// Defaults of GitLabConfigured's own optional inputs.
const (
	// DefaultConfigureTimeout is the timeout of a create (a first install:
	// package download, install, reconfigure, then the readiness wait) and
	// of every update that does not change packageVersion.
	DefaultConfigureTimeout = "45m"
	// DefaultUpgradeTimeout is the timeout of an update that changes
	// packageVersion (an explicit timeout input wins): that run backs GitLab
	// up and uploads the backup before it installs (gitlab-kapsule-apply's
	// backup_before_upgrade), which grows with the data. GitLab's docs give
	// "a little over 2 hours" for 100 GB of Git repositories
	// (doc/administration/backup_restore/backup_gitlab.md, gitlabhq/gitlabhq);
	// bench/sim/day2.go, which adds the upload at the gateway's bandwidth,
	// 14 min 24 s of backup and 16 min of upload for 12 GB (152 s per GB of
	// data), so 45 min ends an upgrade above about 15 GB while its backup
	// runs. 6 h covers about 139 GB at that rate, four times what the
	// default 100 GB data volume can back up (33 GB, docs/performance.md); a
	// larger instance sets timeout.
	DefaultUpgradeTimeout = "6h"
	// DefaultSSHPort is the GitLab host's sshd port.
	DefaultSSHPort = 22
	// DefaultSSHUser is the GitLab host's login: Scaleway installs the
	// project's IAM SSH keys in root's authorized_keys.
	DefaultSSHUser = "root"
)

// The GitLab Omnibus packages, by edition.
const (
	packageCE = "gitlab-ce"
	packageEE = "gitlab-ee"
)

// ErrNotConfigured is matched (errors.Is) by the error of a run of
// gitlab-kapsule-apply that did not finish in time, or that did not start
// because an earlier run still ran on the host.
var ErrNotConfigured = errors.New("gitlab host not configured")

// GitLabConfigured is the resource that converges the GitLab host over SSH
// through the Public Gateway's bastion (hostssh.go): it uploads the host
// scripts and a payload of settings and secrets, runs gitlab-kapsule-apply
// and waits for its exit, then waits for GitLab's readiness as GitLabReady
// does. Every change is an update in place, which runs again when it changes
// what reaches the host; deleting it does nothing on the host, which goes
// with its server.
type GitLabConfigured struct {
	opts Options
}

// GitLabBackup is where and when the host backs GitLab up.
type GitLabBackup struct {
	// Bucket is the Object Storage bucket.
	Bucket string `pulumi:"bucket"`
	// Region is the bucket's region, e.g. fr-par.
	Region string `pulumi:"region"`
	// Endpoint is the S3 endpoint, https://s3.fr-par.scw.cloud or s3.fr-par.scw.cloud.
	Endpoint string `pulumi:"endpoint"`
	// AccessKey is the access key of the bucket's credentials.
	AccessKey string `pulumi:"accessKey"`
	// SecretKey is the secret key of the bucket's credentials.
	SecretKey string `pulumi:"secretKey" provider:"secret"`
	// Schedule is the systemd OnCalendar of the backup timer; empty installs no timer.
	Schedule string `pulumi:"schedule,optional"`
}

// GitLabConfiguredArgs are GitLabConfigured's inputs. Access's caCert is
// both what the readiness wait trusts and what the host puts among GitLab's
// trusted certificates.
type GitLabConfiguredArgs struct {
	Access
	// SSHPort is the GitLab host's sshd port.
	SSHPort int `pulumi:"sshPort,optional"`
	// SSHUser is the GitLab host's login.
	SSHUser string `pulumi:"sshUser,optional"`
	// InstanceID is the server's id: a new one is a new host, configured in full and whose key is trusted anew.
	InstanceID string `pulumi:"instanceId"`
	// DataVolumeID is the id of the block volume that holds /etc/gitlab and /var/opt/gitlab.
	DataVolumeID string `pulumi:"dataVolumeId"`
	// DataVolumeSizeGB is that volume's size: a grown volume means running
	// again, so the host takes the new size up (resize2fs).
	DataVolumeSizeGB int `pulumi:"dataVolumeSizeGb,optional"`
	// Package is the Omnibus package: gitlab-ce or gitlab-ee.
	Package string `pulumi:"package"`
	// PackageVersion is the package version to install, e.g. 18.5.2-ce.0.
	// (An input cannot be named "version": infer drops it, as the engine's.)
	PackageVersion string `pulumi:"packageVersion"`
	// GitLabRb is /etc/gitlab/gitlab.rb; it holds no secret.
	GitLabRb string `pulumi:"gitlabRb"`
	// RootPassword is the root user's password.
	RootPassword string `pulumi:"rootPassword" provider:"secret"`
	// AdminToken is the automation's personal access token.
	AdminToken string `pulumi:"adminToken" provider:"secret"`
	// AdminTokenExpiresAt is the token's expiry date, YYYY-MM-DD.
	AdminTokenExpiresAt string `pulumi:"adminTokenExpiresAt"`
	// TLSCert is GitLab's PEM certificate (chain); empty without TLS.
	TLSCert string `pulumi:"tlsCert,optional"`
	// TLSKey is the certificate's PEM private key; empty without TLS.
	TLSKey string `pulumi:"tlsKey,optional" provider:"secret"`
	// Backup is where and when the host backs GitLab up; unset, it does not.
	Backup *GitLabBackup `pulumi:"backup,optional"`
}

// GitLabConfiguredState is GitLabConfigured's state: its inputs (version is
// the version installed) and what the runs saw.
type GitLabConfiguredState struct {
	GitLabConfiguredArgs
	// Version is the package version installed.
	Version string `pulumi:"version"`
	// PreviousVersion is the version installed before the last version change, or "".
	PreviousVersion string `pulumi:"previousVersion"`
	// ConfiguredAt is when the host was last converged (RFC 3339, UTC).
	ConfiguredAt string `pulumi:"configuredAt"`
	// SSHHostKeyFingerprint is the GitLab host's SSH host key, trusted on first use per instanceId.
	SSHHostKeyFingerprint string `pulumi:"sshHostKeyFingerprint"`
	// TokenExpiresAt is the expiry date of the admin token installed.
	TokenExpiresAt string `pulumi:"tokenExpiresAt"`
	Trusted
}

var (
	_ infer.CustomResource[GitLabConfiguredArgs, GitLabConfiguredState] = (*GitLabConfigured)(nil)
	_ infer.CustomCheck[GitLabConfiguredArgs]                           = (*GitLabConfigured)(nil)
	_ infer.CustomDiff[GitLabConfiguredArgs, GitLabConfiguredState]     = (*GitLabConfigured)(nil)
	_ infer.CustomUpdate[GitLabConfiguredArgs, GitLabConfiguredState]   = (*GitLabConfigured)(nil)
	_ infer.CustomRead[GitLabConfiguredArgs, GitLabConfiguredState]     = (*GitLabConfigured)(nil)
	_ infer.CustomDelete[GitLabConfiguredState]                         = (*GitLabConfigured)(nil)
	_ infer.Annotated                                                   = (*GitLabConfigured)(nil)
	_ infer.Annotated                                                   = (*GitLabConfiguredArgs)(nil)
	_ infer.Annotated                                                   = (*GitLabConfiguredState)(nil)
	_ infer.Annotated                                                   = (*GitLabBackup)(nil)
)

// Annotate gives the resource its token and description.
func (r *GitLabConfigured) Annotate(a infer.Annotator) {
	annotateResource(a, r, "GitLabConfigured", "Converges the GitLab host over SSH through the Public Gateway's SSH bastion: "+
		"uploads the host scripts and a payload of settings and secrets, runs gitlab-kapsule-apply (data volume, package, "+
		"configuration, root password, admin token, backup timer) and waits for it, then until GitLab answers ready. "+
		"Every change is an update in place, which runs again when it changes what reaches the host; a version change that "+
		"skips a required GitLab upgrade stop, a downgrade or a change from gitlab-ee to gitlab-ce is refused before anything runs. "+
		"Deleting it does nothing on the host.")
}

// Annotate documents the inputs and sets their defaults.
func (a *GitLabConfiguredArgs) Annotate(an infer.Annotator) {
	an.SetDefault(&a.Timeout, DefaultConfigureTimeout)
	describeDefault(an, &a.SSHPort, "The GitLab host's sshd port, reached through the bastion.", DefaultSSHPort)
	describeDefault(an, &a.SSHUser, "The GitLab host's login; Scaleway puts the project's IAM SSH keys (privateKey's among them) in root's authorized_keys.", DefaultSSHUser)
	an.Describe(&a.InstanceID, "The server's id: a new one is a new host, configured in full, whose SSH host key is trusted anew.")
	an.Describe(&a.DataVolumeID, "The id of the block volume that holds /etc/gitlab and /var/opt/gitlab, mounted by the host scripts.")
	an.Describe(&a.DataVolumeSizeGB, "The data volume's size in GB: a change runs the host scripts again, which grow the filesystem online.")
	an.Describe(&a.Package, "The Omnibus package: gitlab-ce or gitlab-ee.")
	an.Describe(&a.PackageVersion, "The Omnibus package version to install, e.g. 18.5.2-ce.0.")
	an.Describe(&a.GitLabRb, "The content of /etc/gitlab/gitlab.rb; it must hold no secret.")
	an.Describe(&a.RootPassword, "The password of GitLab's root user.")
	an.Describe(&a.AdminToken, "The automation's personal access token, installed for root with adminTokenExpiresAt; older ones of the stack are revoked.")
	an.Describe(&a.AdminTokenExpiresAt, "The admin token's expiry date, YYYY-MM-DD.")
	an.Describe(&a.TLSCert, "GitLab's PEM certificate (chain); empty without TLS.")
	an.Describe(&a.TLSKey, "The certificate's PEM private key; empty without TLS.")
	an.Describe(&a.Backup, "Where and when the host backs GitLab up; unset, it does not.")
}

// Annotate documents the backup's fields.
func (b *GitLabBackup) Annotate(an infer.Annotator) {
	an.SetToken("index", "GitLabBackup")
	an.Describe(&b.Bucket, "The Object Storage bucket the backups go to, under backups/.")
	an.Describe(&b.Region, "The bucket's region, e.g. fr-par.")
	an.Describe(&b.Endpoint, "The S3 endpoint, https:// (the host speaks nothing else) or a bare host[:port], e.g. https://s3.fr-par.scw.cloud.")
	an.Describe(&b.AccessKey, "The access key of credentials scoped to the bucket.")
	an.Describe(&b.SecretKey, "The secret key of those credentials.")
	an.Describe(&b.Schedule, "The backup timer's systemd OnCalendar (e.g. daily); empty installs no timer.")
}

// Annotate documents the outputs.
func (s *GitLabConfiguredState) Annotate(an infer.Annotator) {
	an.Describe(&s.Version, "The Omnibus package version installed.")
	an.Describe(&s.PreviousVersion, "The version installed before the last version change, empty if none.")
	an.Describe(&s.ConfiguredAt, "When the host was last converged (RFC 3339, UTC).")
	an.Describe(&s.SSHHostKeyFingerprint, "The SHA256 fingerprint of the GitLab host's SSH host key, trusted on first use for each instanceId.")
	an.Describe(&s.TokenExpiresAt, "The expiry date (YYYY-MM-DD) of the admin token installed.")
}

// withDefaults fills the optional inputs that are empty.
func (a GitLabConfiguredArgs) withDefaults() GitLabConfiguredArgs {
	a.Access = a.Access.withDefaults(DefaultConfigureTimeout)
	setIfZero(&a.SSHPort, DefaultSSHPort)
	setIfZero(&a.SSHUser, DefaultSSHUser)
	return a
}

var (
	versionRE = regexp.MustCompile(`^\d+\.\d+\.\d+-(ce|ee)\.\d+$`)
	dateRE    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// validate checks every input whose value f says is known. It never quotes a secret.
func (a GitLabConfiguredArgs) validate(f *fieldErrors) {
	a.Access.validate(f)
	if a.SSHPort < 1 || a.SSHPort > 65535 {
		f.add("sshPort", "%d is not a TCP port", a.SSHPort)
	}
	if a.SSHUser == "" {
		f.add("sshUser", "is empty")
	}
	if a.InstanceID == "" {
		f.add("instanceId", "is empty: pass the server's id")
	}
	if a.DataVolumeID == "" {
		f.add("dataVolumeId", "is empty: pass the id of the block volume GitLab's data lives on")
	}
	if strings.TrimSpace(a.GitLabRb) == "" {
		f.add("gitlabRb", "is empty: pass gitlab.rb's content")
	}
	if a.Package != packageCE && a.Package != packageEE {
		f.add("package", "%q must be %s or %s", a.Package, packageCE, packageEE)
	}
	if m := versionRE.FindStringSubmatch(a.PackageVersion); m == nil {
		f.add("packageVersion", "%q is not an Omnibus package version such as 18.5.2-ce.0", a.PackageVersion)
	} else if "gitlab-"+m[1] != a.Package && (a.Package == packageCE || a.Package == packageEE) {
		f.add("packageVersion", "%q is a version of gitlab-%s, not of %s", a.PackageVersion, m[1], a.Package)
	}
	if len(a.RootPassword) < 8 {
		f.add("rootPassword", "has fewer than 8 characters, which GitLab refuses")
	}
	if a.AdminToken == "" {
		f.add("adminToken", "is empty: pass the automation's personal access token")
	}
	if _, err := time.Parse(time.DateOnly, a.AdminTokenExpiresAt); err != nil || !dateRE.MatchString(a.AdminTokenExpiresAt) {
		f.add("adminTokenExpiresAt", "%q is not a date YYYY-MM-DD", a.AdminTokenExpiresAt)
	}
	switch {
	case (a.TLSCert == "") != (a.TLSKey == ""):
		f.add("tlsKey", "tlsCert and tlsKey go together: set both for TLS, or neither")
	case a.TLSCert != "":
		if !holdsCertificate(a.TLSCert) {
			f.add("tlsCert", "holds no PEM certificate")
		}
		if b, _ := pem.Decode([]byte(a.TLSKey)); b == nil || !strings.Contains(b.Type, "PRIVATE KEY") {
			f.add("tlsKey", "holds no PEM private key")
		}
	}
	if b := a.Backup; b != nil {
		for key, v := range map[string]string{"bucket": b.Bucket, "region": b.Region, "endpoint": b.Endpoint, "accessKey": b.AccessKey, "secretKey": b.SecretKey} {
			if v == "" {
				f.add("backup."+key, "is empty: a backup needs its bucket, region, endpoint and credentials")
			}
		}
		if b.Endpoint != "" && !validEndpointHost(backupEndpointHost(b.Endpoint)) {
			f.add("backup.endpoint", "%q is not an https:// endpoint such as https://s3.fr-par.scw.cloud (the host scripts speak https only)", b.Endpoint)
		}
		if strings.ContainsAny(b.Schedule, "\n'\"") {
			f.add("backup.schedule", "%q is not a systemd OnCalendar expression", b.Schedule)
		}
	}
}

// backupEndpointHost is the endpoint as the host scripts take it, host[:port]
// (they always speak https): an https:// URL without its scheme and final
// slash, or a bare host; "" for any other scheme.
func backupEndpointHost(endpoint string) string {
	rest, found := strings.CutPrefix(endpoint, "https://")
	if !found && strings.Contains(endpoint, "://") {
		return ""
	}
	return strings.TrimSuffix(rest, "/")
}

// validEndpointHost tells whether h is a host or host:port.
func validEndpointHost(h string) bool {
	if h == "" || strings.ContainsAny(h, "/@ ") {
		return false
	}
	if !strings.Contains(h, ":") {
		return true
	}
	host, port, err := net.SplitHostPort(h)
	return err == nil && host != "" && port != ""
}

func holdsCertificate(pemText string) bool {
	rest := []byte(pemText)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return false
		}
		if _, err := x509.ParseCertificate(b.Bytes); b.Type == "CERTIFICATE" && err == nil {
			return true
		}
	}
}

// Check applies the defaults and reports invalid inputs by key, then
// refuses a package change GitLab does not make in place: a version that
// skips a required upgrade stop or goes back (internal/upgradepath), or
// gitlab-ee to gitlab-ce. Failing here fails a preview before anything runs.
func (r *GitLabConfigured) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[GitLabConfiguredArgs], error) {
	resp, err := checkInputs[GitLabConfiguredArgs](ctx, req)
	if err != nil {
		return resp, err
	}
	// checkInputs knows which top-level inputs are unknown; a backup whose
	// secret key is made in the same up is unknown inside.
	resp.Failures = slices.DeleteFunc(resp.Failures, func(f p.CheckFailure) bool { return !knownPath(req.NewInputs, f.Property) })
	if len(resp.Failures) > 0 {
		return resp, nil
	}
	// An unset timeout stays unset in the inputs the engine records: its
	// default depends on the operation (runTimeout), which Update could not
	// tell from an explicit 45m once checkInputs had filled it in.
	if _, set := req.NewInputs.GetOk("timeout"); !set {
		resp.Inputs.Timeout = ""
	}
	oldVersion, oldPackage := knownString(req.OldInputs, "packageVersion"), knownString(req.OldInputs, "package")
	if !known(req.NewInputs, "packageVersion") || !known(req.NewInputs, "package") {
		return resp, nil
	}
	if key, reason := packageChange(oldPackage, oldVersion, resp.Inputs.Package, resp.Inputs.PackageVersion); reason != "" {
		resp.Failures = append(resp.Failures, p.CheckFailure{Property: key, Reason: reason})
	}
	return resp, nil
}

// packageChange says why GitLab cannot go in place from package oldPkg at
// oldVersion to pkg at version, naming the input, or "" when it can.
//
//   - gitlab-ce to gitlab-ee installs the EE package over CE, as a standard
//     upgrade (GitLab docs doc/update/convert_to_ee/package.md, "Convert a
//     Linux package CE instance to EE", gitlabhq/gitlabhq): allowed, the
//     version following the upgrade path like any other;
//   - gitlab-ee to gitlab-ce first needs EE-only features disabled and
//     EE-only integration records deleted from the database (GitLab docs
//     doc/downgrade_ee_to_ce/_index.md, https://docs.gitlab.com/ee/downgrade_ee_to_ce/),
//     which no up does for you: refused.
func packageChange(oldPkg, oldVersion, pkg, version string) (key, reason string) {
	if oldPkg == packageEE && pkg == packageCE {
		return "package", "gitlab-ee to gitlab-ce is not done in place: GitLab asks that EE-only features be disabled and their records " +
			"deleted first (https://docs.gitlab.com/ee/downgrade_ee_to_ce/); do that on the host, or keep gitlab-ee"
	}
	if err := upgradepath.Check(oldVersion, version); err != nil {
		return "packageVersion", err.Error()
	}
	return "", ""
}

// knownPath tells whether the input at path ("backup.secretKey") is known:
// neither it nor an object above it is unknown.
func knownPath(m property.Map, path string) bool {
	keys := strings.Split(path, ".")
	for i, key := range keys {
		v, ok := m.GetOk(key)
		switch {
		case !ok:
			return true
		case v.IsComputed():
			return false
		case i < len(keys)-1 && !v.IsMap():
			return true
		case i < len(keys)-1:
			m = v.AsMap()
		}
	}
	return true
}

// known tells whether key is set in m and its value known.
func known(m property.Map, key string) bool {
	v, ok := m.GetOk(key)
	return ok && !v.IsComputed()
}

// knownString is m's string at key, or "" when unset, unknown or not a string.
func knownString(m property.Map, key string) string {
	v, ok := m.GetOk(key)
	if !ok || !v.IsString() {
		return ""
	}
	return v.AsString()
}

// Diff sees every changed input as an update in place, never a replacement:
// the host keeps its data whatever changes (a new instanceId is a new server
// on the same data volume, configured in full by the update).
func (r *GitLabConfigured) Diff(_ context.Context, req infer.DiffRequest[GitLabConfiguredArgs, GitLabConfiguredState]) (infer.DiffResponse, error) {
	olds, news := req.State.GitLabConfiguredArgs.withDefaults(), req.Inputs.withDefaults()
	ov, nv := reflect.ValueOf(olds), reflect.ValueOf(news)
	detailed := map[string]p.PropertyDiff{}
	for _, f := range inputFields(nv.Type()) {
		if !reflect.DeepEqual(ov.FieldByIndex(f.index).Interface(), nv.FieldByIndex(f.index).Interface()) {
			detailed[f.name] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
		}
	}
	return infer.DiffResponse{HasChanges: len(detailed) > 0, DetailedDiff: detailed}, nil
}

// reachesHost tells whether going from olds to news changes the host: what
// the payload carries, or which host it is. Other changes (the key, the
// bastion, the timeout) are recorded without dialing.
func reachesHost(olds, news GitLabConfiguredArgs) bool {
	return olds.InstanceID != news.InstanceID || olds.TargetHost != news.TargetHost || olds.DataVolumeSizeGB != news.DataVolumeSizeGB ||
		!reflect.DeepEqual(hostSettings(olds), hostSettings(news))
}

// Create converges the new host; a preview dials nothing.
func (r *GitLabConfigured) Create(ctx context.Context, req infer.CreateRequest[GitLabConfiguredArgs]) (infer.CreateResponse[GitLabConfiguredState], error) {
	state := GitLabConfiguredState{GitLabConfiguredArgs: req.Inputs.withDefaults()}
	if req.DryRun {
		return infer.CreateResponse[GitLabConfiguredState]{Output: state}, nil
	}
	if err := r.converge(ctx, &state, "", runTimeout(nil, req.Inputs)); err != nil {
		return infer.CreateResponse[GitLabConfiguredState]{}, err
	}
	return infer.CreateResponse[GitLabConfiguredState]{ID: state.id(req.Name), Output: state}, nil
}

// Update records the new inputs and, when they change the host, converges
// it again: with the host key trusted before for the same instance, or
// trusting a new instance's key on first use.
func (r *GitLabConfigured) Update(ctx context.Context, req infer.UpdateRequest[GitLabConfiguredArgs, GitLabConfiguredState]) (infer.UpdateResponse[GitLabConfiguredState], error) {
	olds := req.State.GitLabConfiguredArgs.withDefaults()
	state := req.State
	state.GitLabConfiguredArgs = req.Inputs.withDefaults()
	if olds.PackageVersion != state.PackageVersion {
		state.PreviousVersion = req.State.Version
	}
	if req.DryRun || !reachesHost(olds, state.GitLabConfiguredArgs) {
		return infer.UpdateResponse[GitLabConfiguredState]{Output: state}, nil
	}
	pinned := ""
	if olds.InstanceID == state.InstanceID {
		pinned = req.State.SSHHostKeyFingerprint
	}
	if err := r.converge(ctx, &state, pinned, runTimeout(&olds, req.Inputs)); err != nil {
		return infer.UpdateResponse[GitLabConfiguredState]{}, err
	}
	return infer.UpdateResponse[GitLabConfiguredState]{Output: state}, nil
}

// Read returns the recorded state without dialing; asked to recheck, it asks
// GitLab's readiness once and warns when GitLab is not ready. The resource
// stays: dropping it would lose the version installed, which the next
// version change is checked against.
func (r *GitLabConfigured) Read(ctx context.Context, req infer.ReadRequest[GitLabConfiguredArgs, GitLabConfiguredState]) (infer.ReadResponse[GitLabConfiguredArgs, GitLabConfiguredState], error) {
	resp := infer.ReadResponse[GitLabConfiguredArgs, GitLabConfiguredState]{ID: req.ID, Inputs: req.Inputs, State: req.State}
	if !r.opts.Recheck(ctx) {
		return resp, nil
	}
	w, err := req.State.GitLabConfiguredArgs.readiness()
	if err != nil {
		return resp, err
	}
	s, err := r.opts.Waiter.reopen(w.cfg, req.State.BastionHostKeyFingerprint)
	if err != nil {
		return resp, err
	}
	defer s.Close()
	_, done, why, err := once(ctx, s, w.poller(s))
	switch {
	case err != nil:
		return resp, err
	case !done:
		p.GetLogger(ctx).Warningf("%s is not ready (%s): run `gitlab-kapsule up --reconfigure` (plain pulumi: `pulumi up --replace` on this resource) to configure the host again", w.subject, why)
	}
	return resp, nil
}

// Delete does nothing: the host's configuration goes with its server, and
// destroy must work with the host already gone, so it dials nothing.
func (r *GitLabConfigured) Delete(context.Context, infer.DeleteRequest[GitLabConfiguredState]) (infer.DeleteResponse, error) {
	return infer.DeleteResponse{}, nil
}

// runTimeout is how long a run that takes the host from olds (nil for a
// create) to news may last, the readiness wait included: news' own timeout
// when it sets one, else DefaultUpgradeTimeout for an update that changes
// the package version (a backup, then the upgrade), else
// DefaultConfigureTimeout. news are the inputs as Check left them, an unset
// timeout empty.
func runTimeout(olds *GitLabConfiguredArgs, news GitLabConfiguredArgs) string {
	switch {
	case news.Timeout != "":
		return news.Timeout
	case olds != nil && olds.PackageVersion != news.PackageVersion:
		return DefaultUpgradeTimeout
	}
	return DefaultConfigureTimeout
}

// id is the resource's name and the host's instance.
func (a GitLabConfiguredArgs) id(name string) string { return name + ":" + a.InstanceID }

// readiness is the wait for GitLab after a run, as GitLabReady's: the
// readiness endpoint, then the admin token on the API.
func (a GitLabConfiguredArgs) readiness() (plan[Status], error) {
	return GitLabReadyArgs{Access: a.Access, Token: a.AdminToken}.plan()
}

// newRunID names one run: [a-z0-9-], sortable by time.
func newRunID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ToLower(now.UTC().Format("20060102t150405")) + "-" + hex.EncodeToString(b)
}

// converge runs gitlab-kapsule-apply on the host with state's inputs, then
// waits until GitLab is ready, within timeout (runTimeout), and records what
// it saw. pinned is the host key trusted before for this instance, or "".
//
// An apply goes on, detached, when the provider stops waiting for it (a
// timeout, a cancelled up): a later run first waits for such an earlier
// apply to end, within the same timeout, rather than queue behind it on the
// host's lock while its own payload sits on /run. When it does not end in
// time, the error names it and how to follow it.
func (r *GitLabConfigured) converge(ctx context.Context, state *GitLabConfiguredState, pinned, timeout string) error {
	args, err := validInputs("GitLabConfigured", state.GitLabConfiguredArgs)
	if err != nil {
		return err
	}
	args.Timeout = timeout
	w, err := args.readiness()
	if err != nil {
		return err
	}
	log := p.GetLogger(ctx)
	w.cfg.Progress = log.InfoStatus
	s, err := r.opts.Waiter.Open(w.cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	clock := s.w.clock()
	deadline := clock.Now().Add(w.cfg.Timeout)
	remaining := func() time.Duration { return max(deadline.Sub(clock.Now()), time.Second) }

	addr := net.JoinHostPort(args.TargetHost, strconv.Itoa(args.SSHPort))
	host := newHostConn(s.bastion, addr, args.SSHUser, w.cfg.Signer, args.InstanceID, pinned)
	defer host.Close()
	runID := newRunID(clock.Now())
	log.Infof("configuring the GitLab host %s as %s through the bastion %s: %s %s, run %s (timeout %s)",
		addr, args.SSHUser, w.cfg.BastionAddr, args.Package, args.PackageVersion, runID, w.cfg.Timeout)
	if err := awaitEarlierApply(ctx, s, host, log); err != nil {
		return err
	}
	run := &hostRun{
		conn:  host,
		id:    runID,
		files: hostFiles(args, runID),
		now:   clock.Now,
		log:   func(line string) { log.Info("gitlab host: " + line) },
	}
	s.cfg.Timeout = remaining()
	if _, err := waitFor(ctx, s, poller[hostStatus]{
		progress: "gitlab-kapsule-apply on the GitLab host " + addr,
		stopped:  "gitlab-kapsule-apply on the GitLab host " + addr,
		ask:      run.step,
		timedOut: TimeoutError{
			Kind: ErrNotConfigured,
			What: "was not configured over SSH at " + addr,
			Hint: fmt.Sprintf("gitlab-kapsule-apply (run %s) goes on on the host, detached, and the next up waits for it before it configures the host again: "+
				"follow it with `%s` (its status: %s)", runID, followCommand(runID), hostscripts.StatusPath(runID)),
		},
	}); err != nil {
		return err
	}
	log.Infof("gitlab-kapsule-apply finished on the GitLab host %s; waiting for %s", addr, w.waiting)
	s.cfg.Timeout = remaining()
	res, err := waitFor(ctx, s, w.poller(s))
	if err != nil {
		return err
	}
	log.Infof("%s is %s (attempts: %d)", w.subject, w.done, res.Attempts)
	state.Version = args.PackageVersion
	state.ConfiguredAt = res.At.UTC().Format(time.RFC3339)
	state.SSHHostKeyFingerprint = host.HostKeyFingerprint()
	state.TokenExpiresAt = args.AdminTokenExpiresAt
	state.BastionHostKeyFingerprint = res.HostKeyFingerprint
	return nil
}

// followCommand is the command line that follows a run's log on the host,
// through the bastion, with the program's CLI (its `ssh --exec`; a stack
// other than dev adds --stack).
func followCommand(runID string) string {
	return "gitlab-kapsule ssh --exec tail -f " + hostscripts.LogPath(runID)
}

// awaitEarlierApply waits, within s's timeout, until no earlier run of
// gitlab-kapsule-apply runs on the host (earlierApplies), saying in the log
// which one it waits for and how to follow it. Running out of time is an
// ErrNotConfigured *TimeoutError that names the run that still goes on.
func awaitEarlierApply(ctx context.Context, s *Session, host *hostConn, log p.Logger) error {
	var waitingFor []earlierApply
	_, err := waitFor(ctx, s, poller[hostStatus]{
		progress: "an earlier gitlab-kapsule-apply on the GitLab host " + host.addr,
		stopped:  "an earlier gitlab-kapsule-apply on the GitLab host " + host.addr,
		ask: func(ctx context.Context) (hostStatus, error) {
			runs, err := earlierApplies(ctx, host)
			switch {
			case err != nil:
				return hostStatus{}, err
			case len(runs) == 0:
				return hostStatus{Done: true}, nil
			}
			if waitingFor == nil || waitingFor[0].id != runs[0].id {
				log.Warningf("an earlier gitlab-kapsule-apply, run %s, still runs on the GitLab host %s (an up that stopped waiting for it, or was interrupted): "+
					"this run starts once it has finished; follow it with `%s`", runs[0].id, host.addr, followCommand(runs[0].id))
			}
			waitingFor = runs
			detail := "an earlier gitlab-kapsule-apply, run " + runs[0].id + ", still runs"
			if runs[0].last != "" {
				detail += " (log: " + runs[0].last + ")"
			}
			return hostStatus{Detail: detail}, nil
		},
		timedOut: TimeoutError{Kind: ErrNotConfigured, What: "was not configured over SSH at " + host.addr,
			Hint: "nothing was started there: check that the host is up and answers SSH through the bastion (gitlab-kapsule ssh --exec true)"},
	})
	if te, ok := errors.AsType[*TimeoutError](err); ok && len(waitingFor) > 0 {
		ids := make([]string, len(waitingFor))
		for i, run := range waitingFor {
			ids[i] = run.id
		}
		te.What += ": an earlier gitlab-kapsule-apply (run " + strings.Join(ids, ", run ") + ") still runs there"
		te.Hint = fmt.Sprintf("it goes on without this up, which changed nothing on the host: follow it with `%s` and run up again once it has finished",
			followCommand(waitingFor[0].id))
	}
	return err
}

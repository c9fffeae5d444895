package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pconfig "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Load reads the stack's configuration over Defaults, derives the values
// that follow from others and validates the result. It creates nothing, so a
// bad value stops the program before any resource. Every problem is reported
// at once: keys the program does not know, values that do not read as their
// type, and values that read but are wrong (unreadable keys skip the checks
// that would judge their defaults instead).
//
// reserved are the ranges network:cidr must leave alone, declared by the
// components that own them (components.KapsuleReservedRanges).
func Load(ctx *pulumi.Context, reserved ...ReservedRange) (*Config, error) {
	c := Defaults()
	c.Prefix = Prefix(ctx.Stack())
	r := reader{ctx: ctx, known: map[string]bool{}, unread: map[string]bool{}, set: map[string]bool{}}

	r.str("scaleway", "region", &c.Region)
	r.str("scaleway", "zone", &c.Zone)

	r.str("network", "cidr", &c.Network.CIDR)
	r.integer("network", "bastionPort", &c.Network.BastionPort)
	r.list("network", "allowedIpRanges", "<your-ip>/32", &c.Network.AllowedIPRanges)
	r.str("network", "sshPublicKey", &c.Network.SSHPublicKey)

	r.str("gitlabHost", "instanceType", &c.GitLab.InstanceType)
	r.str("gitlabHost", "image", &c.GitLab.Image)
	r.str("gitlabHost", "edition", &c.GitLab.Edition)
	r.str("gitlabHost", "version", &c.GitLab.Version)
	r.str("gitlabHost", "privateIp", &c.GitLab.PrivateIP)
	r.integer("gitlabHost", "diskSizeGb", &c.GitLab.DiskSizeGB)
	r.integer("gitlabHost", "dataVolumeSizeGb", &c.GitLab.DataVolumeSizeGB)
	r.boolean("gitlabHost", "retainDataVolume", &c.GitLab.RetainDataVolume)
	r.secret("gitlabHost", "rootPassword", &c.GitLab.RootPassword)
	r.boolean("gitlabHost", "tls", &c.GitLab.TLS)

	r.str("kapsule", "version", &c.Kapsule.Version)
	r.str("kapsule", "cni", &c.Kapsule.CNI)
	r.str("kapsule", "nodeType", &c.Kapsule.NodeType)
	r.integer("kapsule", "size", &c.Kapsule.Size)
	r.list("kapsule", "apiAllowedCidrs", "<your-ip>/32", &c.Kapsule.APIAllowedCIDRs)
	r.clusters(&c.Clusters)

	r.str("agent", "name", &c.Agent.Name)
	r.list("agent", "namespaces", GitOpsDemoNamespace, &c.Agent.Namespaces)
	r.boolean("agent", "clusterAdmin", &c.Agent.ClusterAdmin)
	r.str("agent", "chartVersion", &c.Agent.ChartVersion)
	r.str("agent", "imageTag", &c.Agent.ImageTag)
	r.integer("agent", "tunnelPort", &c.Agent.TunnelPort)
	r.list("agent", "ciAccessProjects", "group/project", &c.Agent.CIAccessProjects)

	r.boolean("runner", "enabled", &c.Runner.Enabled)
	r.str("runner", "chartVersion", &c.Runner.ChartVersion)
	r.integer("runner", "concurrency", &c.Runner.Concurrency)
	r.list("runner", "tags", "kapsule", &c.Runner.Tags)
	r.boolean("runner", "privileged", &c.Runner.Privileged)

	r.boolean("backup", "enabled", &c.Backup.Enabled)
	r.str("backup", "schedule", &c.Backup.Schedule)
	r.integer("backup", "retentionDays", &c.Backup.RetentionDays)
	r.boolean("backup", "adoptBucket", &c.Backup.AdoptBucket)

	r.boolean("gitops", "enabled", &c.GitOps.Enabled)
	r.str("gitops", "fluxChartVersion", &c.GitOps.FluxChartVersion)
	// The durations are judged only when the demo is on: off, its keys
	// may keep whatever they held.
	judgeGitOps := c.AnyGitOps() && !r.unread["gitops:enabled"]
	r.duration("gitops", "interval", judgeGitOps, &c.GitOps.Interval)
	r.duration("gitops", "timeout", judgeGitOps, &c.GitOps.Timeout)

	errs := checkKeys(r.known, configuredKeys(ctx), ctx.Project())
	errs = append(errs, r.errs...)
	if c.Clusters != nil {
		errs = append(errs, r.oneClusterKeysBesideTheList()...)
	}
	c.derive()
	errs = append(errs, c.problems(r.unread, reserved)...)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("configuration of stack %q:\n%w", ctx.Stack(), err)
	}
	return &c, nil
}

// oneClusterKeysBesideTheList refuses the one-cluster keys (oneClusterKeys)
// in a stack that sets kapsule:clusters, which replaces them: each value has
// one home. It names the field each belongs to instead.
func (r *reader) oneClusterKeysBesideTheList() []error {
	var errs []error
	for _, f := range sortedKeys(oneClusterKeys) {
		key := oneClusterKeys[f]
		if !r.set[key] {
			continue
		}
		field := strings.Replace(f, "pools[0]", "pools[j]", 1)
		errs = append(errs, fmt.Errorf("%s describes the one cluster of a stack without %s, which this stack sets: "+
			"set %s[i].%s in each cluster instead and remove %s", key, ClustersKey, ClustersKey, field, key))
	}
	return errs
}

// derive fills the values that default to a function of others: GitLab's
// address is the network's tenth address, or its third in a network too
// small for that (Scaleway keeps the first two and the last two). It leaves
// them alone when the network itself is wrong, which Validate reports.
func (c *Config) derive() {
	pn, err := netip.ParsePrefix(c.Network.CIDR)
	if c.GitLab.PrivateIP != "" || err != nil || !pn.Addr().Is4() || pn.Masked() != pn {
		return
	}
	first, last := pn.Addr(), lastAddr(pn)
	a := first
	for range 10 {
		a = a.Next()
	}
	if !pn.Contains(a) || a.Compare(last.Prev()) >= 0 {
		a = first.Next().Next()
	}
	c.GitLab.PrivateIP = a.String()
}

// reader collects every unreadable key, so one run reports them all, and
// records every key it is asked for: those are the program's keys.
type reader struct {
	ctx *pulumi.Context
	// known is every key Load reads, "namespace:key".
	known map[string]bool
	// unread is every key that is set but could not be read; Validate skips
	// the checks of those keys, which still hold their defaults. Fields of
	// kapsule:clusters are there by path, "kapsule:clusters[0].pools[1].size".
	unread map[string]bool
	// set is every key the stack sets.
	set  map[string]bool
	errs []error
}

// get returns the key's value if it is set, recording the key as known.
func (r *reader) get(ns, key string) (string, bool) {
	r.known[ns+":"+key] = true
	v, err := pconfig.New(r.ctx, ns).Try(key)
	if err == nil {
		r.set[ns+":"+key] = true
	}
	return v, err == nil
}

func (r *reader) fail(ns, key string, err error) {
	r.unread[ns+":"+key] = true
	r.errs = append(r.errs, err)
}

func (r *reader) str(ns, key string, dst *string) {
	// Secret values come in plain text too: they are validated here and
	// re-wrapped as secrets by whoever uses them (see stack.Deploy).
	if v, ok := r.get(ns, key); ok && strings.TrimSpace(v) != "" {
		*dst = strings.TrimSpace(v)
	}
}

// secret reads a key that must be set with `pulumi config set --secret`: a
// plain value is in the stack file for anyone who can read the repository.
func (r *reader) secret(ns, key string, dst *string) {
	v, ok := r.get(ns, key)
	if !ok || strings.TrimSpace(v) == "" {
		return
	}
	if !r.ctx.IsConfigSecret(ns + ":" + key) {
		r.fail(ns, key, fmt.Errorf("%s:%s is stored in plain text in the stack's configuration: encrypt it with `pulumi config set --secret %s:%s` (enter the value when asked)", ns, key, ns, key))
		return
	}
	*dst = strings.TrimSpace(v)
}

func (r *reader) integer(ns, key string, dst *int) {
	if _, ok := r.get(ns, key); !ok {
		return
	}
	v, err := pconfig.New(r.ctx, ns).TryInt(key)
	if err != nil {
		r.fail(ns, key, fmt.Errorf("%s:%s must be a whole number: write it in digits, e.g. %d (%w)", ns, key, *dst, err))
		return
	}
	*dst = v
}

func (r *reader) boolean(ns, key string, dst *bool) {
	raw, ok := r.get(ns, key)
	if !ok {
		return
	}
	v, err := pconfig.New(r.ctx, ns).TryBool(key)
	if err != nil {
		r.fail(ns, key, fmt.Errorf("%s:%s %q must be true or false: write true or false (YAML 1.2, which Pulumi uses, reads yes, no, on and off as text)", ns, key, raw))
		return
	}
	*dst = v
}

// duration reads a Go duration such as "1m" or "90s". A value that does not
// parse is reported only when judge is set; either way its checks are skipped.
func (r *reader) duration(ns, key string, judge bool, dst *time.Duration) {
	v, ok := r.get(ns, key)
	if !ok || strings.TrimSpace(v) == "" {
		return
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		r.unread[ns+":"+key] = true
		if judge {
			r.errs = append(r.errs, fmt.Errorf("%s:%s %q is not a duration: write it like \"1m\" or \"90s\"", ns, key, v))
		}
		return
	}
	*dst = d
}

// list reads a list of strings; example is an item for the fix.
func (r *reader) list(ns, key, example string, dst *[]string) {
	if _, ok := r.get(ns, key); !ok {
		return
	}
	var v []string
	if err := pconfig.New(r.ctx, ns).TryObject(key, &v); err != nil {
		r.fail(ns, key, fmt.Errorf("%s:%s must be a list of strings: set its items with `pulumi config set --path '%s:%s[0]' %s` (%w)", ns, key, ns, key, example, err))
		return
	}
	*dst = v
}

var (
	notNameChar = regexp.MustCompile(`[^a-z0-9-]+`)
	// cleanStack is a stack name that is already a prefix: lowercase
	// letters, digits and dashes, not starting or ending with a dash.
	cleanStack = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
)

// Prefix turns a stack name into the prefix of every resource name:
// lowercase letters, digits and dashes, because Scaleway turns other
// characters of a name into dashes in internal DNS names anyway.
//
// A name that is already clean is its own prefix ("dev" gives "glk-dev", as
// it always has, so existing stacks keep their resource names). Any other
// name is cleaned, cut to 20 characters and followed by a hash of the exact
// name, so that stacks which differ only in case or in `_`, `.` and `-`
// (dev_1, Dev-1, dev.1) do not share their resources' names.
func Prefix(stack string) string {
	if cleanStack.MatchString(stack) {
		return "glk-" + stack
	}
	sum := sha256.Sum256([]byte(stack))
	hash := hex.EncodeToString(sum[:4])
	p := strings.Trim(notNameChar.ReplaceAllString(strings.ToLower(stack), "-"), "-")
	if len(p) > 20 {
		p = strings.TrimRight(p[:20], "-")
	}
	if p == "" {
		p = "stack"
	}
	return "glk-" + p + "-" + hash
}

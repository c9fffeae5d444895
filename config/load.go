package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pconfig "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Load reads the stack's configuration over Defaults and validates it. It
// creates nothing, so a bad value stops the program before any resource.
func Load(ctx *pulumi.Context) (*Config, error) {
	c := Defaults()
	c.Prefix = Prefix(ctx.Stack())
	r := reader{ctx: ctx}

	r.str("scaleway", "region", &c.Region)
	r.str("scaleway", "zone", &c.Zone)

	r.str("network", "cidr", &c.Network.CIDR)
	r.integer("network", "bastionPort", &c.Network.BastionPort)
	r.list("network", "allowedIpRanges", &c.Network.AllowedIPRanges)
	r.str("network", "sshPublicKey", &c.Network.SSHPublicKey)

	r.str("gitlabHost", "instanceType", &c.GitLab.InstanceType)
	r.str("gitlabHost", "image", &c.GitLab.Image)
	r.str("gitlabHost", "edition", &c.GitLab.Edition)
	r.str("gitlabHost", "version", &c.GitLab.Version)
	r.str("gitlabHost", "privateIp", &c.GitLab.PrivateIP)
	r.integer("gitlabHost", "diskSizeGb", &c.GitLab.DiskSizeGB)
	r.str("gitlabHost", "rootPassword", &c.GitLab.RootPassword)
	r.boolean("gitlabHost", "tls", &c.GitLab.TLS)

	r.str("kapsule", "version", &c.Kapsule.Version)
	r.str("kapsule", "cni", &c.Kapsule.CNI)
	r.str("kapsule", "nodeType", &c.Kapsule.NodeType)
	r.integer("kapsule", "size", &c.Kapsule.Size)
	r.list("kapsule", "apiAllowedCidrs", &c.Kapsule.APIAllowedCIDRs)

	r.str("agent", "name", &c.Agent.Name)
	r.list("agent", "namespaces", &c.Agent.Namespaces)
	r.boolean("agent", "clusterAdmin", &c.Agent.ClusterAdmin)
	r.str("agent", "chartVersion", &c.Agent.ChartVersion)
	r.str("agent", "imageTag", &c.Agent.ImageTag)
	r.integer("agent", "tunnelPort", &c.Agent.TunnelPort)

	r.boolean("gitops", "enabled", &c.GitOps.Enabled)
	r.str("gitops", "fluxChartVersion", &c.GitOps.FluxChartVersion)
	r.str("gitops", "interval", &c.GitOps.Interval)
	r.str("gitops", "timeout", &c.GitOps.Timeout)

	if err := errors.Join(r.errs...); err != nil {
		return nil, fmt.Errorf("configuration of stack %q:\n%w", ctx.Stack(), err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("configuration of stack %q:\n%w", ctx.Stack(), err)
	}
	return &c, nil
}

// reader collects every unreadable key, so one run reports them all.
type reader struct {
	ctx  *pulumi.Context
	errs []error
}

func (r *reader) str(ns, key string, dst *string) {
	// Get also returns secret values in plain text: they are validated here and
	// re-wrapped as secrets by whoever uses them (see stack.Deploy).
	if v, ok := pconfig.New(r.ctx, ns).Try(key); ok == nil && strings.TrimSpace(v) != "" {
		*dst = strings.TrimSpace(v)
	}
}

func (r *reader) integer(ns, key string, dst *int) {
	cfg := pconfig.New(r.ctx, ns)
	if _, err := cfg.Try(key); err != nil {
		return
	}
	v, err := cfg.TryInt(key)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s:%s must be a whole number: %w", ns, key, err))
		return
	}
	*dst = v
}

func (r *reader) boolean(ns, key string, dst *bool) {
	cfg := pconfig.New(r.ctx, ns)
	if _, err := cfg.Try(key); err != nil {
		return
	}
	v, err := cfg.TryBool(key)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s:%s must be true or false: %w", ns, key, err))
		return
	}
	*dst = v
}

func (r *reader) list(ns, key string, dst *[]string) {
	cfg := pconfig.New(r.ctx, ns)
	if _, err := cfg.Try(key); err != nil {
		return
	}
	var v []string
	if err := cfg.TryObject(key, &v); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s:%s must be a list of strings, e.g. `pulumi config set --path '%s:%s[0]' 198.51.100.0/24`: %w", ns, key, ns, key, err))
		return
	}
	*dst = v
}

var notNameChar = regexp.MustCompile(`[^a-z0-9-]+`)

// Prefix turns a stack name into the prefix of every resource name: lowercase
// letters, digits and dashes, because Scaleway turns other characters of a
// name into dashes in internal DNS names anyway.
func Prefix(stack string) string {
	p := strings.Trim(notNameChar.ReplaceAllString(strings.ToLower(stack), "-"), "-")
	if p == "" {
		p = "stack"
	}
	return "glk-" + p
}

package components

import (
	"fmt"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/cloudinit"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/instance"
)

// GitLabHostArgs configures a GitLabHost.
type GitLabHostArgs struct {
	// Prefix starts every resource name, e.g. "glk-dev".
	Prefix string
	// Zone places the instance.
	Zone string
	// InstanceType, Image and DiskSizeGB size the instance (at least 4 vCPU / 8 GB).
	InstanceType, Image string
	DiskSizeGB          int
	// DataVolumeSizeGB sizes the block volume that holds /var/opt/gitlab
	// and /etc/gitlab; RetainDataVolume keeps it when the host is deleted.
	DataVolumeSizeGB int
	RetainDataVolume bool
	// Package ("gitlab-ce" or "gitlab-ee") and Version pin the Omnibus package.
	Package, Version string
	// PrivateIP is GitLab's reserved address and IPAMID its reservation.
	PrivateIP string
	IPAMID    pulumi.StringInput
	// CIDR is the private network, allowed to read GitLab's health endpoints.
	CIDR string
	// PrivateNetworkID and PrivateNetworkName are the network GitLab joins.
	PrivateNetworkID   pulumi.StringInput
	PrivateNetworkName pulumi.StringInput
	// GatewayNetworkID is the gateway's attachment: the readiness check goes
	// through the bastion, which reaches the network only once it exists.
	GatewayNetworkID pulumi.StringInput
	// SSHKeyIDs are the project's IAM SSH keys the stack registers: the
	// instance takes root's authorized keys from the project when it is
	// created, so it waits for them (sshCommand works from the first boot).
	SSHKeyIDs pulumi.StringInput
	// BastionHost, BastionPort and AutomationPrivateKey reach the bastion.
	BastionHost          pulumi.StringInput
	BastionPort          int
	AutomationPrivateKey pulumi.StringInput
	// RootPassword is the initial root password (secret); generated when nil.
	RootPassword pulumi.StringInput
	// ReadyTimeout bounds each configuration run of the host; zero leaves it
	// to the readiness provider's defaults (45 minutes, 6 hours for a
	// version change, whose backup grows with the data).
	ReadyTimeout time.Duration
	// TLS serves the web UI over HTTPS and KAS over grpcs:// with a private CA.
	TLS bool
	// Backup is where the host backs GitLab up; nil for no backups.
	Backup *BackupTarget
	// Now is the moment the automation token's renewal period is taken
	// from; the zero value means time.Now (tests fix it).
	Now time.Time
}

// BackupTarget is the bucket GitLab's backups go to, and the schedule.
type BackupTarget struct {
	Bucket, Region, Endpoint pulumi.StringInput
	// AccessKey and SecretKey (secret) are the bucket's scoped credentials.
	AccessKey, SecretKey pulumi.StringInput
	// Schedule is a systemd OnCalendar expression.
	Schedule string
}

// GitLabHost is a GitLab Omnibus instance with no public address, reachable
// only on its reserved private address, with its readiness awaited.
type GitLabHost struct {
	pulumi.ResourceState

	// ServerID is the Scaleway instance's id.
	ServerID pulumi.StringOutput `pulumi:"serverId"`
	// PrivateIP is GitLab's private address.
	PrivateIP pulumi.StringOutput `pulumi:"privateIp"`
	// InternalDNSName is the instance's name in the private network's DNS.
	InternalDNSName pulumi.StringOutput `pulumi:"internalDnsName"`
	// URL is GitLab's web URL on the private network; known once GitLab answers.
	URL pulumi.StringOutput `pulumi:"url"`
	// KASAddress is where agentk connects; known once GitLab answers.
	KASAddress pulumi.StringOutput `pulumi:"kasAddress"`
	// AdminToken is the automation personal access token (secret); known once GitLab answers.
	AdminToken pulumi.StringOutput `pulumi:"adminToken"`
	// RootPassword is the initial root password (secret).
	RootPassword pulumi.StringOutput `pulumi:"rootPassword"`
	// SSHCommand opens a shell on the host through the bastion.
	SSHCommand pulumi.StringOutput `pulumi:"sshCommand"`
	// ReadyAt is when GitLab last answered ready after its configuration.
	ReadyAt pulumi.StringOutput `pulumi:"readyAt"`
	// CACert is the private CA (PEM) that signs GitLab's certificate; empty without TLS.
	CACert pulumi.StringOutput `pulumi:"caCert"`
}

// NewGitLabHost creates the GitLab instance on its data volume, its private
// NIC on the reserved address, a security group, and GitLabConfigured, which
// installs and configures GitLab over SSH and waits until it answers.
func NewGitLabHost(ctx *pulumi.Context, name string, args *GitLabHostArgs, opts ...pulumi.ResourceOption) (*GitLabHost, error) {
	if args == nil || args.Prefix == "" || args.PrivateIP == "" || args.PrivateNetworkID == nil || args.IPAMID == nil || args.BastionHost == nil || args.AutomationPrivateKey == nil {
		return nil, fmt.Errorf("gitlab host %q: Prefix, PrivateIP, IPAMID, PrivateNetworkID, BastionHost and AutomationPrivateKey are required", name)
	}
	comp := &GitLabHost{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:GitLabHost", name, comp, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(comp)

	rootPassword := args.RootPassword
	if rootPassword == nil {
		pw, err := random.NewRandomPassword(ctx, name+"-root-password", &random.RandomPasswordArgs{
			Length: pulumi.Int(32), Special: pulumi.Bool(false),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("gitlab host %q: root password: %w", name, err)
		}
		rootPassword = pw.Result
	}
	now := args.Now
	if now.IsZero() {
		now = time.Now()
	}
	renewal := TokenRenewalAt(now)
	adminToken, err := newAutomationToken(ctx, name, renewal, parent)
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: %w", name, err)
	}

	// Scaleway security groups filter only public traffic. This host has no
	// public address, so the group is defence in depth: should a public IP
	// ever be attached, nothing inbound gets through.
	sg, err := instance.NewSecurityGroup(ctx, name+"-sg", &instance.SecurityGroupArgs{
		Name:                  pulumi.String(args.Prefix + "-gitlab"),
		Zone:                  pulumi.String(args.Zone),
		Description:           pulumi.String("GitLab host: no inbound public traffic; GitLab is reached over the private network"),
		InboundDefaultPolicy:  pulumi.String("drop"),
		OutboundDefaultPolicy: pulumi.String("accept"),
		Stateful:              pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: security group: %w", name, err)
	}

	serverName := args.Prefix + "-gitlab"
	internalDNSName := pulumi.Sprintf("%s.%s.internal", serverName, args.PrivateNetworkName)
	web, kas := webOf(args.TLS), kasURL(args.PrivateIP, args.TLS)
	gitlabRB, err := cloudinit.GitLabRB(cloudinit.GitLab{
		ExternalURL: web.url(args.PrivateIP), PrivateIP: args.PrivateIP, NetworkCIDR: args.CIDR,
		KASPort: cloudinit.DefaultKASPort, KASURL: kas, TLS: args.TLS,
	})
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: %w", name, err)
	}
	userData, err := cloudinit.UserData()
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: %w", name, err)
	}

	// Without TLS the certificate inputs stay empty.
	caCert := pulumi.String("").ToStringOutput()
	tlsCert, tlsKey := pulumi.String("").ToStringOutput(), pulumi.String("").ToStringOutput()
	if args.TLS {
		certs, err := newGitLabCertificates(ctx, name, args.Prefix, args.PrivateIP, internalDNSName, parent)
		if err != nil {
			return nil, fmt.Errorf("gitlab host %q: %w", name, err)
		}
		caCert, tlsCert, tlsKey = certs.CACert, certs.Cert, certs.Key
	}

	data, err := newGitLabDataVolume(ctx, name, args, parent)
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: %w", name, err)
	}

	nameAfterKeys := pulumi.String(serverName).ToStringOutput()
	if args.SSHKeyIDs != nil {
		nameAfterKeys = after(nameAfterKeys, args.SSHKeyIDs)
	}
	server, err := NewGitLabServer(ctx, name+"-server", &GitLabServerArgs{
		Name: nameAfterKeys, Zone: args.Zone, InstanceType: args.InstanceType, Image: args.Image,
		SecurityGroupID: sg.ID(), DiskSizeGB: args.DiskSizeGB, UserData: pulumi.String(userData),
		DataVolumeID: data.ID(),
		Tags:         []string{"gitlab-kapsule", args.Prefix},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: server: %w", name, err)
	}
	nic, err := instance.NewPrivateNic(ctx, name+"-nic", &instance.PrivateNicArgs{
		ServerId:         server.ID(),
		PrivateNetworkId: args.PrivateNetworkID,
		IpamIpIds:        pulumi.StringArray{args.IPAMID},
		Zone:             pulumi.String(args.Zone),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: private nic: %w", name, err)
	}

	bastionHost := args.BastionHost
	if args.GatewayNetworkID != nil {
		bastionHost = after(args.BastionHost, args.GatewayNetworkID)
	}
	// The host is configured over SSH through the bastion, never through
	// user-data: the package, gitlab.rb, the certificate and the secrets.
	// Any change of them runs the configuration again on the running host
	// (an upgrade backs up first), and so does a replaced host.
	configured, err := gitlabwait.NewGitLabConfigured(ctx, name+"-configured", &gitlabwait.GitLabConfiguredArgs{
		Access: gitLabThroughBastion{
			BastionHost: bastionHost, BastionPort: args.BastionPort, PrivateKey: args.AutomationPrivateKey,
			GitLabIP: pulumi.String(args.PrivateIP), TLS: args.TLS, CACert: caCert, Timeout: args.ReadyTimeout,
		}.access(),
		InstanceId:          server.ID(),
		DataVolumeId:        data.ID(),
		DataVolumeSizeGb:    data.SizeInGb,
		Package:             pulumi.String(args.Package),
		PackageVersion:      pulumi.String(args.Version),
		GitlabRb:            pulumi.String(gitlabRB),
		RootPassword:        rootPassword,
		AdminToken:          adminToken,
		AdminTokenExpiresAt: pulumi.String(renewal.ExpiresAt),
		TlsCert:             tlsCert,
		TlsKey:              tlsKey,
		Backup:              args.Backup.args(),
	}, parent,
		// GitLab is reachable on its address only once the NIC is attached.
		pulumi.DependsOn([]pulumi.Resource{nic}))
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: configuration: %w", name, err)
	}
	configured.TokenExpiresAt.ApplyT(func(at string) string {
		warnOfTokenExpiry(ctx, now, at, comp)
		return at
	})
	ready := configured.ConfiguredAt

	comp.ServerID = server.ID().ToStringOutput()
	comp.PrivateIP = pulumi.String(args.PrivateIP).ToStringOutput()
	comp.InternalDNSName = internalDNSName
	comp.ReadyAt = ready
	comp.CACert = caCert
	comp.URL = after(pulumi.String(web.url(args.PrivateIP)), ready)
	comp.KASAddress = after(pulumi.String(kas), ready)
	comp.AdminToken = pulumi.ToSecret(after(adminToken, ready)).(pulumi.StringOutput)
	comp.RootPassword = pulumi.ToSecret(rootPassword).(pulumi.StringOutput)
	comp.SSHCommand = pulumi.Sprintf("ssh -J %s@%s:%d root@%s", sshbastion.ScalewayUser, args.BastionHost, args.BastionPort, comp.InternalDNSName)

	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{
		"serverId":        comp.ServerID,
		"privateIp":       comp.PrivateIP,
		"internalDnsName": comp.InternalDNSName,
		"url":             comp.URL,
		"kasAddress":      comp.KASAddress,
		"adminToken":      comp.AdminToken,
		"rootPassword":    comp.RootPassword,
		"sshCommand":      comp.SSHCommand,
		"readyAt":         comp.ReadyAt,
		"caCert":          comp.CACert,
	}); err != nil {
		return nil, err
	}
	return comp, nil
}

// GitLabServerArgs configures the GitLab host's instance.
type GitLabServerArgs struct {
	// Name is the instance's name; it may wait on other resources.
	Name pulumi.StringInput
	// Zone, InstanceType, Image and DiskSizeGB place and size it.
	Zone, InstanceType, Image string
	DiskSizeGB                int
	// SecurityGroupID is its security group.
	SecurityGroupID pulumi.StringInput
	// UserData is the cloud-config; it carries no secret.
	UserData pulumi.StringInput
	// DataVolumeID is the block volume attached besides the root volume.
	DataVolumeID pulumi.StringInput
	// Tags label it.
	Tags []string
}

// NewGitLabServer registers the GitLab host's instance, with no public
// address and GitLab's data volume attached. The engine tests run it against
// a stand-in Scaleway plugin.
func NewGitLabServer(ctx *pulumi.Context, name string, args *GitLabServerArgs, opts ...pulumi.ResourceOption) (*instance.Server, error) {
	return instance.NewServer(ctx, name, &instance.ServerArgs{
		Name:            args.Name,
		Zone:            pulumi.String(args.Zone),
		Type:            pulumi.String(args.InstanceType),
		Image:           pulumi.String(args.Image),
		SecurityGroupId: args.SecurityGroupID,
		// No IpId, no IpIds, no dynamic IP: the host has no public address.
		EnableDynamicIp: pulumi.Bool(false),
		RootVolume: &instance.ServerRootVolumeArgs{
			SizeInGb:   pulumi.Int(args.DiskSizeGB),
			VolumeType: pulumi.String("sbs_volume"),
		},
		// Attached and detached in place (terraform-provider-scaleway
		// internal/services/instance/server.go: additional_volume_ids is not
		// ForceNew), so an existing host gains its data volume without a
		// replacement, and a replaced host is given the same volume back.
		AdditionalVolumeIds: pulumi.StringArray{args.DataVolumeID},
		// Applied by cloud-init at the first boot only, and updated in place
		// (cloud_init is not ForceNew): it holds no secret and never changes.
		CloudInit: args.UserData,
		Tags:      pulumi.ToStringArray(args.Tags),
	}, append(opts,
		// A replacement (a new image, say) must free the data volume first:
		// an SBS volume attaches to one server at a time (scaleway-sdk-go
		// api/block/v1 "in_use"), and two hosts mounting one ext4 volume
		// would corrupt it. The old server goes, detaching the volume, then
		// the new one is made with it.
		pulumi.DeleteBeforeReplace(true))...)
}

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
	// ReadyTimeout is how long to wait for GitLab's first boot; zero leaves
	// it to the readiness provider's default (30 minutes).
	ReadyTimeout time.Duration
	// TLS serves the web UI over HTTPS and KAS over grpcs:// with a private CA.
	TLS bool
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
	// ReadyAt is when GitLab first answered ready.
	ReadyAt pulumi.StringOutput `pulumi:"readyAt"`
	// CACert is the private CA (PEM) that signs GitLab's certificate; empty without TLS.
	CACert pulumi.StringOutput `pulumi:"caCert"`
}

// NewGitLabHost creates the GitLab instance, its private NIC on the reserved
// address, a security group, the first-boot user-data and the readiness wait.
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
	// The automation token's value is chosen here, then installed by the
	// first boot: nobody copies a token from the UI.
	token, err := random.NewRandomPassword(ctx, name+"-admin-token", &random.RandomPasswordArgs{
		Length: pulumi.Int(40), Special: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: admin token: %w", name, err)
	}
	adminToken := pulumi.Sprintf("glk-%s", token.Result)

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

	// Without TLS the certificate fields stay empty strings, so one code path renders both.
	tlsFiles := pulumi.ToSecret(pulumi.ToStringArray([]string{"", "", ""})).(pulumi.StringArrayOutput)
	caCert := pulumi.String("").ToStringOutput()
	if args.TLS {
		certs, err := newGitLabCertificates(ctx, name, args.Prefix, args.PrivateIP, internalDNSName, parent)
		if err != nil {
			return nil, fmt.Errorf("gitlab host %q: %w", name, err)
		}
		caCert = certs.CACert
		tlsFiles = pulumi.ToSecret(pulumi.StringArray{certs.CACert, certs.Cert, certs.Key}).(pulumi.StringArrayOutput)
	}
	userData := pulumi.All(rootPassword, adminToken, tlsFiles).ApplyT(func(v []any) (string, error) {
		g := cloudinit.GitLab{
			ExternalURL:  web.url(args.PrivateIP),
			PrivateIP:    args.PrivateIP,
			NetworkCIDR:  args.CIDR,
			KASPort:      cloudinit.DefaultKASPort,
			KASURL:       kas,
			Package:      args.Package,
			Version:      args.Version,
			RootPassword: v[0].(string),
			AdminToken:   v[1].(string),
		}
		if files := v[2].([]string); args.TLS {
			g.TLS = &cloudinit.TLS{CACert: files[0], Cert: files[1], Key: files[2]}
		}
		return cloudinit.Render(g)
	}).(pulumi.StringOutput)

	nameAfterKeys := pulumi.String(serverName).ToStringOutput()
	if args.SSHKeyIDs != nil {
		nameAfterKeys = after(nameAfterKeys, args.SSHKeyIDs)
	}
	server, err := NewGitLabServer(ctx, name+"-server", &GitLabServerArgs{
		Name: nameAfterKeys, Zone: args.Zone, InstanceType: args.InstanceType, Image: args.Image,
		SecurityGroupID: sg.ID(), DiskSizeGB: args.DiskSizeGB, UserData: userData,
		Tags: []string{"gitlab-kapsule", args.Prefix},
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
	ready, err := gitlabwait.NewGitLabReady(ctx, name+"-ready", &gitlabwait.GitLabReadyArgs{
		Access: gitLabThroughBastion{
			BastionHost: bastionHost, BastionPort: args.BastionPort, PrivateKey: args.AutomationPrivateKey,
			GitLabIP: pulumi.String(args.PrivateIP), TLS: args.TLS, CACert: caCert, Timeout: args.ReadyTimeout,
		}.access(),
		InstanceId: server.ID(),
		// Ready means the automation token works too: what runs next needs it.
		Token: adminToken,
	}, parent,
		// GitLab is reachable on its address only once the NIC is attached.
		pulumi.DependsOn([]pulumi.Resource{nic}))
	if err != nil {
		return nil, fmt.Errorf("gitlab host %q: readiness: %w", name, err)
	}

	comp.ServerID = server.ID().ToStringOutput()
	comp.PrivateIP = pulumi.String(args.PrivateIP).ToStringOutput()
	comp.InternalDNSName = internalDNSName
	comp.ReadyAt = ready.ReadyAt
	comp.CACert = caCert
	comp.URL = after(pulumi.String(web.url(args.PrivateIP)), ready.ReadyAt)
	comp.KASAddress = after(pulumi.String(kas), ready.ReadyAt)
	comp.AdminToken = pulumi.ToSecret(after(adminToken, ready.ReadyAt)).(pulumi.StringOutput)
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
	// UserData is the cloud-config; it carries secrets and is always sent as one.
	UserData pulumi.StringInput
	// Tags label it.
	Tags []string
}

// NewGitLabServer registers the GitLab host's instance, with no public
// address and its user-data kept secret in every property that carries it.
// The engine tests run it against a stand-in Scaleway plugin.
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
		CloudInit: pulumi.ToSecret(args.UserData).(pulumi.StringOutput),
		Tags:      pulumi.ToStringArray(args.Tags),
	}, append(opts,
		// The provider reads the user-data back into userData (under the
		// "cloud-init" key) and cloudInit, and its schema marks neither
		// sensitive (terraform-provider-scaleway internal/services/instance/
		// server.go): the root password, the token and the TLS key would sit
		// in plain state. The engine encrypts these outputs whatever the schema says.
		pulumi.AdditionalSecretOutputs([]string{"userData", "cloudInit"}))...)
}

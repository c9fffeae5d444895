package components

import (
	"fmt"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/iam"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/ipam"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/network"
)

// AutomationKeyName and OperatorKeyName are the IAM SSH keys' names.
func AutomationKeyName(prefix string) string { return prefix + "-automation" }

// OperatorKeyName is the name of the operator's IAM SSH key.
func OperatorKeyName(prefix string) string { return prefix + "-operator" }

// NetworkArgs configures a Network.
type NetworkArgs struct {
	// Prefix starts every resource name, e.g. "glk-dev".
	Prefix string
	// Region and Zone place the regional (VPC, private network, IPAM) and
	// zonal (gateway) resources.
	Region, Zone string
	// CIDR is the private network's IPv4 subnet, e.g. "10.0.0.0/24".
	CIDR string
	// BastionPort is the SSH bastion's port (61000 by default at Scaleway).
	BastionPort int
	// AllowedIPRanges may reach the bastion.
	AllowedIPRanges []string
	// OperatorSSHKey is a person's public key for the bastion; optional.
	OperatorSSHKey string
	// ProjectKeysDigest sums up the project's other IAM SSH keys (from the
	// preflight; empty without it): the bastion imports every project key,
	// so a key added or removed in the project re-imports them on the next up.
	ProjectKeysDigest string
	// GitLabAddress is reserved for the GitLab host here, before anything
	// else joins the network, so no DHCP lease can take it first.
	GitLabAddress string
}

// Network is the private network with its Public Gateway: NAT out for hosts
// without public addresses, and an SSH bastion in for people and the program.
type Network struct {
	pulumi.ResourceState

	// PrivateNetworkID is the private network every other component joins.
	PrivateNetworkID pulumi.StringOutput `pulumi:"privateNetworkId"`
	// PrivateNetworkName is its name, the last label but one of internal DNS names.
	PrivateNetworkName pulumi.StringOutput `pulumi:"privateNetworkName"`
	// CIDR is the private network's subnet.
	CIDR pulumi.StringOutput `pulumi:"cidr"`
	// GatewayIP is the Public Gateway's public address.
	GatewayIP pulumi.StringOutput `pulumi:"gatewayIp"`
	// BastionPort is the SSH bastion's port.
	BastionPort pulumi.IntOutput `pulumi:"bastionPort"`
	// Bastion is the jump host as ssh -J takes it: bastion@IP:PORT.
	Bastion pulumi.StringOutput `pulumi:"bastion"`
	// GatewayNetworkID is the gateway's attachment to the private network:
	// hosts and nodes have a way out only once it exists.
	GatewayNetworkID pulumi.StringOutput `pulumi:"gatewayNetworkId"`
	// GitLabIPAMID is the IPAM reservation of GitLab's address.
	GitLabIPAMID pulumi.StringOutput `pulumi:"gitlabIpamId"`
	// GitLabIP is GitLab's reserved address.
	GitLabIP pulumi.StringOutput `pulumi:"gitlabIp"`
	// AutomationPrivateKey is the program's own bastion key (OpenSSH, secret).
	AutomationPrivateKey pulumi.StringOutput `pulumi:"automationPrivateKey"`
	// SSHKeyIDs are the IAM SSH keys the stack registers, comma-separated: an
	// instance gets root's authorized keys from the project's keys when it is
	// created, so the GitLab host waits for them.
	SSHKeyIDs pulumi.StringOutput `pulumi:"sshKeyIds"`
}

// NewNetwork creates the VPC, private network, Public Gateway with its SSH
// bastion, the gateway's attachment with NAT and default route, the SSH keys
// the bastion trusts, and GitLab's address reservation.
func NewNetwork(ctx *pulumi.Context, name string, args *NetworkArgs, opts ...pulumi.ResourceOption) (*Network, error) {
	if args == nil || args.Prefix == "" || args.CIDR == "" || args.GitLabAddress == "" {
		return nil, fmt.Errorf("network %q: Prefix, CIDR and GitLabAddress are required", name)
	}
	comp := &Network{}
	if err := ctx.RegisterComponentResource("gitlab-kapsule:index:Network", name, comp, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(comp)

	// The program's own key pair, so the bastion trusts the program without
	// anyone's personal key. ED25519: small, and what OpenSSH prefers.
	automationKey, err := tls.NewPrivateKey(ctx, name+"-automation-key", &tls.PrivateKeyArgs{Algorithm: pulumi.String("ED25519")}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %q: automation key: %w", name, err)
	}
	// A changed key is deleted before its successor exists, so the gateway's
	// refresh (which waits for the successor) no longer finds the old key in
	// the project; the default create-before-delete would refresh while the
	// old key is still there, and the bastion would keep trusting it. IAM may
	// also refuse two keys with the same public key (terraform-provider-
	// scaleway#713: 409), which create-before-delete would attempt.
	keyReplacement := pulumi.DeleteBeforeReplace(true)
	keys := []pulumi.Input{}
	automationIAMKey, err := iam.NewSshKey(ctx, name+"-automation-ssh-key", &iam.SshKeyArgs{
		Name:      pulumi.String(AutomationKeyName(args.Prefix)),
		PublicKey: automationKey.PublicKeyOpenssh,
	}, parent, keyReplacement)
	if err != nil {
		return nil, fmt.Errorf("network %q: automation ssh key: %w", name, err)
	}
	keys = append(keys, automationIAMKey.ID().ToStringOutput())
	if args.OperatorSSHKey != "" {
		operatorKey, err := iam.NewSshKey(ctx, name+"-operator-ssh-key", &iam.SshKeyArgs{
			Name:      pulumi.String(OperatorKeyName(args.Prefix)),
			PublicKey: pulumi.String(args.OperatorSSHKey),
		}, parent, keyReplacement)
		if err != nil {
			return nil, fmt.Errorf("network %q: operator ssh key: %w", name, err)
		}
		keys = append(keys, operatorKey.ID().ToStringOutput())
	}
	// The bastion copies the project's keys only when it is enabled or
	// refreshed; a value that changes with the key set triggers that refresh,
	// and makes the gateway wait for the keys.
	refreshKeys := pulumi.All(toAny(keys)...).ApplyT(func(ids []any) string {
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = fmt.Sprint(id)
		}
		if args.ProjectKeysDigest != "" {
			parts = append(parts, "project:"+args.ProjectKeysDigest)
		}
		return strings.Join(parts, ",")
	}).(pulumi.StringOutput)

	vpc, err := network.NewVpc(ctx, name+"-vpc", &network.VpcArgs{
		Name:   pulumi.String(args.Prefix + "-vpc"),
		Region: pulumi.String(args.Region),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %q: vpc: %w", name, err)
	}
	pnName := args.Prefix + "-pn"
	pn, err := network.NewPrivateNetwork(ctx, name+"-pn", &network.PrivateNetworkArgs{
		Name:       pulumi.String(pnName),
		Region:     pulumi.String(args.Region),
		VpcId:      vpc.ID(),
		Ipv4Subnet: &network.PrivateNetworkIpv4SubnetArgs{Subnet: pulumi.String(args.CIDR)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %q: private network: %w", name, err)
	}

	gitlabIP, err := ipam.NewIp(ctx, name+"-gitlab-ip", &ipam.IpArgs{
		Region:  pulumi.String(args.Region),
		Address: pulumi.String(args.GitLabAddress),
		Sources: ipam.IpSourceArray{&ipam.IpSourceArgs{PrivateNetworkId: pn.ID()}},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %q: gitlab address: %w", name, err)
	}

	gwIP, err := network.NewPublicGatewayIp(ctx, name+"-gateway-ip", &network.PublicGatewayIpArgs{
		Zone: pulumi.String(args.Zone),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %q: gateway ip: %w", name, err)
	}
	gw, err := network.NewPublicGateway(ctx, name+"-gateway", &network.PublicGatewayArgs{
		Name:            pulumi.String(args.Prefix + "-gateway"),
		Zone:            pulumi.String(args.Zone),
		Type:            pulumi.String("VPC-GW-S"),
		IpId:            gwIP.ID(),
		BastionEnabled:  pulumi.Bool(true),
		BastionPort:     pulumi.Int(args.BastionPort),
		AllowedIpRanges: pulumi.ToStringArray(args.AllowedIPRanges),
		RefreshSshKeys:  refreshKeys,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %q: public gateway: %w", name, err)
	}
	gwNet, err := network.NewGatewayNetwork(ctx, name+"-gateway-network", &network.GatewayNetworkArgs{
		GatewayId:        gw.ID(),
		PrivateNetworkId: pn.ID(),
		Zone:             pulumi.String(args.Zone),
		// Masquerade plus a pushed default route give hosts and nodes without
		// public addresses their way out (packages, images) through the gateway.
		EnableMasquerade: pulumi.Bool(true),
		IpamConfigs:      network.GatewayNetworkIpamConfigArray{&network.GatewayNetworkIpamConfigArgs{PushDefaultRoute: pulumi.Bool(true)}},
	}, parent,
		// The gateway takes a private address by IPAM: GitLab's must be reserved first.
		pulumi.DependsOn([]pulumi.Resource{gitlabIP}))
	if err != nil {
		return nil, fmt.Errorf("network %q: gateway network: %w", name, err)
	}

	// Whatever joins the network (GitLab's NIC, the cluster and its nodes)
	// does so only once GitLab's address is reserved, so no DHCP lease can
	// take it first (terraform-provider-scaleway docs/resources/ipam_ip.md).
	comp.PrivateNetworkID = after(pn.ID().ToStringOutput(), gitlabIP.ID())
	// The name is ours: known at once, so GitLab's certificate (whose SAN is the
	// internal DNS name) and so the server need not wait for the network.
	comp.PrivateNetworkName = pulumi.String(pnName).ToStringOutput()
	comp.CIDR = pulumi.String(args.CIDR).ToStringOutput()
	comp.GatewayIP = gwIP.Address
	comp.BastionPort = pulumi.Int(args.BastionPort).ToIntOutput()
	comp.Bastion = pulumi.Sprintf("%s@%s:%d", sshbastion.ScalewayUser, gwIP.Address, args.BastionPort)
	comp.GatewayNetworkID = gwNet.ID().ToStringOutput()
	comp.GitLabIPAMID = gitlabIP.ID().ToStringOutput()
	comp.GitLabIP = pulumi.String(args.GitLabAddress).ToStringOutput()
	comp.AutomationPrivateKey = pulumi.ToSecret(automationKey.PrivateKeyOpenssh).(pulumi.StringOutput)
	comp.SSHKeyIDs = refreshKeys

	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{
		"privateNetworkId":     comp.PrivateNetworkID,
		"privateNetworkName":   comp.PrivateNetworkName,
		"cidr":                 comp.CIDR,
		"gatewayIp":            comp.GatewayIP,
		"bastionPort":          comp.BastionPort,
		"bastion":              comp.Bastion,
		"gatewayNetworkId":     comp.GatewayNetworkID,
		"gitlabIpamId":         comp.GitLabIPAMID,
		"gitlabIp":             comp.GitLabIP,
		"automationPrivateKey": comp.AutomationPrivateKey,
		"sshKeyIds":            comp.SSHKeyIDs,
	}); err != nil {
		return nil, err
	}
	return comp, nil
}

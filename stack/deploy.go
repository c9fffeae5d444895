package stack

import (
	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Deploy is the whole stack: it declares the resources and exports the outputs.
func Deploy(ctx *pulumi.Context) error {
	outputs, err := Build(ctx)
	if err != nil {
		return err
	}
	outputs.export(ctx)
	return nil
}

// Build declares Network, then GitLabHost and Kapsule side by side on it,
// then the Agent that joins them and the GitOps demo that uses it, and
// returns the stack outputs. Nothing is created when the configuration is
// invalid.
func Build(ctx *pulumi.Context) (Outputs, error) {
	cfg, err := config.Load(ctx, components.KapsuleReservedRanges...)
	if err != nil {
		return nil, err
	}
	// Every resource from here on asks for the plugin version its SDK was
	// generated for, never whichever plugin is installed.
	if err := plugins.Pin(ctx); err != nil {
		return nil, err
	}
	// A plain `pulumi` run takes the readiness provider from PATH, however
	// old that build is: say so when it may not be this program's.
	plugins.WarnStaleProvider(ctx, ".")

	// What only Scaleway knows, asked before anything is created.
	checked, _, err := runPreflight(ctx, cfg)
	if err != nil {
		return nil, err
	}
	kapsuleVersion, operatorKey := cfg.Kapsule.Version, cfg.Network.SSHPublicKey
	if checked.KapsuleVersion != "" {
		kapsuleVersion = checked.KapsuleVersion // Scaleway's upgrade, adopted
	}
	if checked.OperatorKeyInProject {
		// Already a project key, which the bastion imports anyway.
		operatorKey = ""
	}

	net, err := components.NewNetwork(ctx, "network", &components.NetworkArgs{
		Prefix:            cfg.Prefix,
		Region:            cfg.Region,
		Zone:              cfg.Zone,
		CIDR:              cfg.Network.CIDR,
		BastionPort:       cfg.Network.BastionPort,
		AllowedIPRanges:   cfg.Network.AllowedIPRanges,
		OperatorSSHKey:    operatorKey,
		ProjectKeysDigest: checked.ProjectKeysDigest,
		GitLabAddress:     cfg.GitLab.PrivateIP,
	})
	if err != nil {
		return nil, err
	}
	if len(cfg.Network.AllowedIPRanges) == 1 && cfg.Network.AllowedIPRanges[0] == "0.0.0.0/0" {
		_ = ctx.Log.Warn("network:allowedIpRanges admits the whole internet to the SSH bastion (key authentication only): "+
			"set it to your operators' and this program's ranges", &pulumi.LogArgs{Resource: net})
	}

	if !cfg.GitLab.TLS {
		_ = ctx.Log.Warn("gitlabHost:tls is false: GitLab's web UI, API and KAS speak plain http:// and grpc:// "+
			"on the private network, tokens included", nil)
	}
	var rootPassword pulumi.StringInput
	if cfg.GitLab.RootPassword != "" {
		rootPassword = pulumi.ToSecret(pulumi.String(cfg.GitLab.RootPassword)).(pulumi.StringOutput)
	}
	gitlab, err := components.NewGitLabHost(ctx, "gitlab", &components.GitLabHostArgs{
		Prefix:               cfg.Prefix,
		Zone:                 cfg.Zone,
		InstanceType:         cfg.GitLab.InstanceType,
		Image:                cfg.GitLab.Image,
		DiskSizeGB:           cfg.GitLab.DiskSizeGB,
		Package:              "gitlab-" + cfg.GitLab.Edition,
		Version:              cfg.GitLab.Version,
		PrivateIP:            cfg.GitLab.PrivateIP,
		IPAMID:               net.GitLabIPAMID,
		CIDR:                 cfg.Network.CIDR,
		PrivateNetworkID:     net.PrivateNetworkID,
		PrivateNetworkName:   net.PrivateNetworkName,
		GatewayNetworkID:     net.GatewayNetworkID,
		SSHKeyIDs:            net.SSHKeyIDs,
		BastionHost:          net.GatewayIP,
		BastionPort:          cfg.Network.BastionPort,
		AutomationPrivateKey: net.AutomationPrivateKey,
		RootPassword:         rootPassword,
		TLS:                  cfg.GitLab.TLS,
	})
	if err != nil {
		return nil, err
	}

	kapsule, err := components.NewKapsule(ctx, "kapsule", &components.KapsuleArgs{
		Prefix:           cfg.Prefix,
		Region:           cfg.Region,
		Version:          kapsuleVersion,
		CNI:              cfg.Kapsule.CNI,
		NodeType:         cfg.Kapsule.NodeType,
		Size:             cfg.Kapsule.Size,
		PrivateNetworkID: net.PrivateNetworkID,
		GatewayNetworkID: net.GatewayNetworkID,
		GatewayIP:        net.GatewayIP,
		APIAllowedCIDRs:  cfg.Kapsule.APIAllowedCIDRs,
	})
	if err != nil {
		return nil, err
	}

	// Flux goes in before agentk, which checks for Flux's CRDs only when it
	// starts. It needs nothing from GitLab.
	var flux *components.Flux
	var agentStartAfter []pulumi.Resource
	if cfg.GitOps.Enabled {
		flux, err = components.NewFlux(ctx, "flux", &components.FluxArgs{
			KubernetesProvider: kapsule.Provider,
			NodePoolID:         kapsule.NodePoolID,
			Namespace:          config.FluxNamespace,
			AgentNamespace:     config.AgentNamespace,
			ChartVersion:       cfg.GitOps.FluxChartVersion,
		})
		if err != nil {
			return nil, err
		}
		agentStartAfter = flux.Installed
	}

	// The agent talks to GitLab (once it is ready) and to the cluster; it is
	// the channel the whole stack exists for, and `up` succeeds only once
	// GitLab lists it as connected.
	agent, err := components.NewAgent(ctx, "agent", &components.AgentArgs{
		Name:                 cfg.Agent.Name,
		Namespaces:           cfg.Agent.Namespaces,
		ClusterAdmin:         cfg.Agent.ClusterAdmin,
		ChartVersion:         cfg.Agent.ChartVersion,
		ImageTag:             cfg.Agent.ImageTag,
		TunnelPort:           cfg.Agent.TunnelPort,
		AgentNamespace:       config.AgentNamespace,
		FluxNamespace:        config.FluxNamespace,
		TLS:                  cfg.GitLab.TLS,
		GitLabURL:            gitlab.URL,
		PrivateIP:            gitlab.PrivateIP,
		KASAddress:           gitlab.KASAddress,
		CACert:               gitlab.CACert,
		AdminToken:           gitlab.AdminToken,
		BastionHost:          net.GatewayIP,
		BastionPort:          cfg.Network.BastionPort,
		AutomationPrivateKey: net.AutomationPrivateKey,
		KubernetesProvider:   kapsule.Provider,
		NodePoolID:           kapsule.NodePoolID,
		StartAfter:           agentStartAfter,
	})
	if err != nil {
		return nil, err
	}

	outputs := Outputs{
		AgentName:             agent.AgentName,
		AgentID:               agent.AgentID,
		AgentConfigProjectURL: agent.ConfigProjectURL,
		AgentKubeContext:      agent.KubeContext,
		AgentConnectedAt:      agent.ConnectedAt,
		GitLabURL:             gitlab.URL,
		GitLabPrivateIP:       gitlab.PrivateIP,
		GitLabRootPassword:    gitlab.RootPassword,
		KASAddress:            gitlab.KASAddress,
		GitLabCACert:          gitlab.CACert,
		Bastion:               net.Bastion,
		PrivateNetworkID:      net.PrivateNetworkID,
		SSHCommand:            gitlab.SSHCommand,
		KapsuleClusterID:      kapsule.ClusterID,
		KapsuleAPIServerURL:   kapsule.APIServerURL,
		Kubeconfig:            kapsule.Kubeconfig,
	}

	// The GitOps demo: nginx synced by Flux from the agent's configuration
	// project; `up` ends once it runs.
	if cfg.GitOps.Enabled {
		demo, err := components.NewGitOpsDemo(ctx, "gitops", &components.GitOpsDemoArgs{
			GitLabProvider: agent.GitLabProvider,
			Project:        agent.ConfigProject,
			// The agent's own commit first: a dependency on the file itself,
			// not on the Agent component, whose children may still be registering.
			CommitAfter:        []pulumi.Resource{agent.ConfigFile},
			GitLabURL:          gitlab.URL,
			TLS:                cfg.GitLab.TLS,
			CACert:             gitlab.CACert,
			KubernetesProvider: kapsule.Provider,
			Flux:               flux,
			DemoNamespace:      config.GitOpsDemoNamespace,
			Interval:           cfg.GitOps.Interval,
			Timeout:            cfg.GitOps.Timeout,
		})
		if err != nil {
			return nil, err
		}
		outputs[DemoNamespace] = demo.Namespace
		outputs[DemoCheckCommand] = demo.CheckCommand
		outputs[DemoManifestsURL] = demo.ManifestsURL
	}
	return outputs, nil
}

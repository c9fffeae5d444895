package stack

import (
	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/plugins"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// gitlabHostName is the GitLabHost component's name: its resources' names
// start with it.
const gitlabHostName = "gitlab"

// Deploy is the whole stack: it declares the resources and exports the outputs.
func Deploy(ctx *pulumi.Context) error {
	outputs, err := Build(ctx)
	if err != nil {
		return err
	}
	outputs.export(ctx)
	return nil
}

// Build declares Network, then GitLabHost and every cluster (Kapsule, and
// Flux with the demo) side by side on it, then the Agent that joins GitLab
// to each cluster and each cluster's GitOps demo, and returns the stack
// outputs. Nothing is created when the configuration is
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
	operatorKey := cfg.Network.SSHPublicKey
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
	backups, backupTarget, err := newBackups(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var rootPassword pulumi.StringInput
	if cfg.GitLab.RootPassword != "" {
		rootPassword = pulumi.ToSecret(pulumi.String(cfg.GitLab.RootPassword)).(pulumi.StringOutput)
	}
	gitlab, err := components.NewGitLabHost(ctx, gitlabHostName, &components.GitLabHostArgs{
		Prefix:               cfg.Prefix,
		Zone:                 cfg.Zone,
		InstanceType:         cfg.GitLab.InstanceType,
		Image:                cfg.GitLab.Image,
		DiskSizeGB:           cfg.GitLab.DiskSizeGB,
		DataVolumeSizeGB:     cfg.GitLab.DataVolumeSizeGB,
		RetainDataVolume:     cfg.GitLab.RetainDataVolume,
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
		Backup:               backupTarget,
	})
	if err != nil {
		return nil, err
	}

	// Each cluster with its pools and, with the demo, Flux: side by side,
	// while GitLab boots.
	clusters := cfg.ClusterList()
	kapsules := make([]*components.Kapsule, len(clusters))
	fluxes := make([]*components.Flux, len(clusters))
	agentClusters := make([]components.AgentCluster, len(clusters))
	for i, cl := range clusters {
		version := cl.Version
		if v := checked.KapsuleVersions[components.KapsuleClusterName(cfg.Prefix, cl.Name)]; v != "" {
			version = v // Scaleway's upgrade, adopted
		}
		kapsules[i], err = components.NewKapsule(ctx, components.ClusterResourceName("kapsule", cl.Name), &components.KapsuleArgs{
			Prefix:             cfg.Prefix,
			Cluster:            cl.Name,
			Region:             cfg.Region,
			Version:            version,
			CNI:                cl.CNI,
			Pools:              cl.Pools,
			PrivateNetworkID:   net.PrivateNetworkID,
			GatewayNetworkID:   net.GatewayNetworkID,
			GatewayIP:          net.GatewayIP,
			APIAllowedCIDRs:    cl.APIAllowedCIDRs,
			APIAllowedCIDRsKey: cl.Key("apiAllowedCidrs"),
		})
		if err != nil {
			return nil, err
		}
		// Flux goes in before agentk, which checks for Flux's CRDs only
		// when it starts. It needs nothing from GitLab.
		var agentStartAfter []pulumi.Resource
		if cl.GitOps {
			fluxes[i], err = components.NewFlux(ctx, components.ClusterResourceName("flux", cl.Name), &components.FluxArgs{
				KubernetesProvider: kapsules[i].Provider,
				NodePoolID:         kapsules[i].NodePoolID,
				Namespace:          config.FluxNamespace,
				AgentNamespace:     config.AgentNamespace,
				ChartVersion:       cfg.GitOps.FluxChartVersion,
			})
			if err != nil {
				return nil, err
			}
			agentStartAfter = fluxes[i].Installed
		}
		agentClusters[i] = components.AgentCluster{
			Cluster:            cl.Name,
			Name:               cl.AgentName,
			Namespaces:         cl.Namespaces,
			ClusterAdmin:       cl.ClusterAdmin,
			KubernetesProvider: kapsules[i].Provider,
			NodePoolID:         kapsules[i].NodePoolID,
			StartAfter:         agentStartAfter,
		}
	}

	// The agents talk to GitLab (once it is ready) and to their clusters;
	// they are the channel the whole stack exists for, and `up` succeeds
	// only once GitLab lists every one as connected.
	agent, err := components.NewAgent(ctx, "agent", &components.AgentArgs{
		Clusters:             agentClusters,
		ChartVersion:         cfg.Agent.ChartVersion,
		ImageTag:             cfg.Agent.ImageTag,
		TunnelPort:           cfg.Agent.TunnelPort,
		AgentNamespace:       config.AgentNamespace,
		FluxNamespace:        config.FluxNamespace,
		CIAccessProjects:     cfg.Agent.CIAccessProjects,
		TLS:                  cfg.GitLab.TLS,
		GitLabURL:            gitlab.URL,
		PrivateIP:            gitlab.PrivateIP,
		KASAddress:           gitlab.KASAddress,
		CACert:               gitlab.CACert,
		AdminToken:           gitlab.AdminToken,
		GitLabServerID:       gitlab.ServerID,
		BastionHost:          net.GatewayIP,
		BastionPort:          cfg.Network.BastionPort,
		AutomationPrivateKey: net.AutomationPrivateKey,
	})
	if err != nil {
		return nil, err
	}

	outputs := Outputs{
		AgentConfigProjectURL: agent.ConfigProjectURL,
		GitLabURL:             gitlab.URL,
		GitLabPrivateIP:       gitlab.PrivateIP,
		GitLabRootPassword:    gitlab.RootPassword,
		KASAddress:            gitlab.KASAddress,
		GitLabCACert:          gitlab.CACert,
		Bastion:               net.Bastion,
		PrivateNetworkID:      net.PrivateNetworkID,
		SSHCommand:            gitlab.SSHCommand,
	}
	if backups != nil {
		outputs[BackupBucket] = backups.BucketName
		outputs[BackupEndpoint] = backups.Endpoint
	}
	perCluster := make([]Outputs, len(clusters))
	// The GitOps demo: nginx synced by Flux from the agents' configuration
	// project, one folder per cluster; `up` ends once it runs. The demos'
	// commits follow the agents', one after the other.
	commitAfter := []pulumi.Resource{agent.LastCommit}
	for i, cl := range clusters {
		ca := agent.Clusters[cl.Name]
		perCluster[i] = Outputs{
			KapsuleClusterID:    kapsules[i].ClusterID,
			KapsuleAPIServerURL: kapsules[i].APIServerURL,
			Kubeconfig:          kapsules[i].Kubeconfig,
			AgentName:           ca.AgentName,
			AgentID:             ca.AgentID,
			AgentConnectedAt:    ca.ConnectedAt,
			AgentKubeContext:    ca.KubeContext,
		}
		if !cl.GitOps {
			continue
		}
		demo, err := components.NewGitOpsDemo(ctx, components.ClusterResourceName("gitops", cl.Name), &components.GitOpsDemoArgs{
			Cluster:            cl.Name,
			GitLabProvider:     agent.GitLabProvider,
			Project:            agent.ConfigProject,
			CommitAfter:        commitAfter,
			GitLabURL:          gitlab.URL,
			TLS:                cfg.GitLab.TLS,
			CACert:             gitlab.CACert,
			KubernetesProvider: kapsules[i].Provider,
			Flux:               fluxes[i],
			DemoNamespace:      config.GitOpsDemoNamespace,
			Interval:           cfg.GitOps.Interval,
			Timeout:            cfg.GitOps.Timeout,
		})
		if err != nil {
			return nil, err
		}
		commitAfter = []pulumi.Resource{demo.LastCommit}
		perCluster[i][DemoNamespace] = demo.Namespace
		perCluster[i][DemoCheckCommand] = demo.CheckCommand
		perCluster[i][DemoManifestsURL] = demo.ManifestsURL
	}
	if cfg.Runner.Enabled {
		pipeline, err := declareCI(ctx, cfg, clusters, kapsules, agent, gitlab, net, commitAfter, perCluster)
		if err != nil {
			return nil, err
		}
		outputs[PipelineURL] = pipeline.PipelineURL
	}
	outputs.addClusters(cfg, clusters, perCluster)
	return outputs, nil
}

// declareCI installs a runner in every cluster, side by side with the
// agents, then commits the demo pipeline, whose jobs deploy through every
// agent, once every agent is connected and every runner installed, and
// waits until the pipeline succeeded. Its commit follows commitAfter.
func declareCI(ctx *pulumi.Context, cfg *config.Config, clusters []config.Cluster, kapsules []*components.Kapsule,
	agent *components.Agent, gitlab *components.GitLabHost, net *components.Network, commitAfter []pulumi.Resource,
	perCluster []Outputs) (*components.CIPipeline, error) {
	var jobs []components.CIJobArgs
	runAfter := []pulumi.Resource{}
	for i, cl := range clusters {
		runner, err := components.NewRunner(ctx, components.ClusterResourceName("runner", cl.Name), &components.RunnerArgs{
			Cluster:            cl.Name,
			ChartVersion:       cfg.Runner.ChartVersion,
			Concurrency:        cfg.Runner.Concurrency,
			Tags:               cfg.Runner.Tags,
			Privileged:         cfg.Runner.Privileged,
			Namespace:          config.RunnerNamespace,
			GitLabURL:          gitlab.URL,
			TLS:                cfg.GitLab.TLS,
			CACert:             gitlab.CACert,
			GitLabProvider:     agent.GitLabProvider,
			KubernetesProvider: kapsules[i].Provider,
			NodePoolID:         kapsules[i].NodePoolID,
		})
		if err != nil {
			return nil, err
		}
		// The job deploys where the agent's ci_access points its context.
		namespace := "default"
		if len(cl.Namespaces) > 0 {
			namespace = cl.Namespaces[0]
		}
		ca := agent.Clusters[cl.Name]
		jobs = append(jobs, components.CIJobArgs{Cluster: cl.Name, KubeContext: ca.KubeContext, Namespace: namespace})
		runAfter = append(runAfter, ca.Connected, runner.Release)
		perCluster[i][RunnerID] = runner.RunnerID
		perCluster[i][CINamespace] = pulumi.String(namespace)
	}
	return components.NewCIPipeline(ctx, "pipeline", &components.CIPipelineArgs{
		GitLabProvider:       agent.GitLabProvider,
		Project:              agent.ConfigProject,
		Jobs:                 jobs,
		CommitAfter:          commitAfter,
		RunAfter:             runAfter,
		TLS:                  cfg.GitLab.TLS,
		CACert:               gitlab.CACert,
		BastionHost:          net.GatewayIP,
		BastionPort:          cfg.Network.BastionPort,
		AutomationPrivateKey: net.AutomationPrivateKey,
		PrivateIP:            gitlab.PrivateIP,
		Token:                gitlab.AdminToken,
	})
}

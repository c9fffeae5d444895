package stack_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestEachKeyTouchesOnlyItsResources changes one configuration key at a
// time from the every-option configuration and lists the resources whose
// inputs change ("+name" added, "-name" removed): a key that starts to touch
// another resource, or stops touching its own, fails here. What each change
// then does in the cloud (in place, replacement, an update the provider does
// not apply) is the day-2 matrix of issue 13. "" removes the key. Only the
// program's own inputs are compared: a resource that follows a replaced one
// through its outputs (agent:name replaces the registration, and so the
// token) is not listed, since the mocks' outputs do not change.
func TestEachKeyTouchesOnlyItsResources(t *testing.T) {
	t.Parallel()
	base := fullConfig()
	before := mustRun(t, base).cloud
	for _, tc := range []struct {
		key, value string
		touched    []string
	}{
		{"agent:chartVersion", "2.20.2", []string{"agent-release"}},
		{"agent:ciAccessProjects", `["team/app"]`, []string{"agent-config"}},
		{"agent:clusterAdmin", "true", []string{"+agent-cluster-admin"}},
		{"agent:imageTag", "v18.5.3", []string{"agent-release"}},
		{"agent:name", "other", []string{"agent-config", "agent-connected", "agent-registration", "pipeline-file"}},
		{"agent:namespaces", `["gitops-demo","web"]`, []string{"+agent-target-web", "+agent-web-gitlab-agent-deployer", "+agent-web-gitlab-agent-deployer-binding"}},
		{"agent:tunnelPort", "18444", []string{"agent-gitlab"}},
		{"gitlabHost:diskSizeGb", "80", []string{"gitlab-server"}},
		{"gitlabHost:image", "ubuntu_jammy", []string{"gitlab-server"}},
		{"gitlabHost:instanceType", "POP2-4C-16G", []string{"gitlab-server"}},
		{"gitlabHost:privateIp", "10.0.0.20", []string{"agent-connected", "agent-release", "gitlab-ready", "gitlab-server", "gitlab-tls-csr", "gitops-source", "network-gitlab-ip", "pipeline-succeeded", "runner-ca-secret", "runner-release"}},
		{"gitlabHost:rootPassword", "another long password", []string{"gitlab-server"}},
		{"gitlabHost:tls", "false", []string{"-gitlab-ca", "-gitlab-ca-key", "-gitlab-tls-cert", "-gitlab-tls-csr", "-gitlab-tls-key", "-runner-ca-secret", "agent-connected", "agent-gitlab", "agent-release", "gitlab-ready", "gitlab-server", "gitops-auth", "gitops-source", "pipeline-file", "pipeline-succeeded", "runner-release"}},
		{"gitlabHost:version", "18.5.3-ce.0", []string{"gitlab-server"}},
		{"gitops:enabled", "false", []string{"-flux", "-flux-flux-system-gitlab-agent-flux-receiver", "-flux-flux-system-gitlab-agent-flux-receiver-binding", "-flux-gitlab-agent-flux-reader", "-flux-gitlab-agent-flux-reader-binding", "-flux-namespace", "-flux-release", "-gitops", "-gitops-auth", "-gitops-deploy-token", "-gitops-file-deployment", "-gitops-file-kustomization", "-gitops-file-service", "-gitops-source", "-gitops-sync"}},
		{"gitops:fluxChartVersion", "2.17.1", []string{"flux-release"}},
		{"gitops:interval", "2m", []string{"gitops-source", "gitops-sync"}},
		{"gitops:timeout", "10m", []string{"gitops-source", "gitops-sync"}},
		{"kapsule:apiAllowedCidrs", `["51.15.8.8/32"]`, []string{"kapsule-acl"}},
		{"kapsule:cni", "calico", []string{"kapsule-cluster"}},
		{"kapsule:nodeType", "PRO2-XS", []string{"kapsule-pool"}},
		{"kapsule:size", "3", []string{"kapsule-pool"}},
		{"kapsule:version", "1.37", []string{"kapsule-cluster"}},
		{"network:allowedIpRanges", `["51.15.9.0/24"]`, []string{"network-gateway"}},
		{"network:bastionPort", "2222", []string{"agent-connected", "gitlab-ready", "network-gateway", "pipeline-succeeded"}},
		{"network:cidr", "10.1.0.0/24", []string{"agent-connected", "agent-release", "gitlab-ready", "gitlab-server", "gitlab-tls-csr", "gitops-source", "network-gitlab-ip", "network-pn", "pipeline-succeeded", "runner-ca-secret", "runner-release"}},
		{"network:sshPublicKey", "", []string{"-network-operator-ssh-key", "network-gateway"}},
		{"runner:chartVersion", "0.82.1", []string{"runner-release"}}, // a release runnerChartShips does not know
		{"runner:concurrency", "8", []string{"runner-release"}},
		{"runner:enabled", "false", []string{"-pipeline", "-pipeline-file", "-pipeline-succeeded", "-runner", "-runner-ca-secret", "-runner-gitlab-runner", "-runner-gitlab-runner-gitlab-runner", "-runner-gitlab-runner-gitlab-runner-binding", "-runner-gitlab-runner-job", "-runner-namespace", "-runner-registration", "-runner-release", "-runner-token-secret"}},
		{"runner:privileged", "true", []string{"runner-release"}},
		{"runner:tags", `["gpu"]`, []string{"runner-registration"}},
		{"scaleway:zone", "fr-par-2", []string{"gitlab-nic", "gitlab-server", "gitlab-sg", "network-gateway", "network-gateway-ip", "network-gateway-network"}},
	} {
		t.Run(tc.key, func(t *testing.T) {
			t.Parallel()
			changed := maps.Clone(base)
			if tc.value == "" {
				delete(changed, tc.key)
			} else {
				changed[tc.key] = tc.value
			}
			after := mustRun(t, changed).cloud
			var touched []string
			for _, r := range after.Resources() {
				old, ok := before.Named(r.Name)
				switch {
				case !ok:
					touched = append(touched, "+"+r.Name)
				case !old.Inputs.DeepEquals(r.Inputs):
					touched = append(touched, r.Name)
				}
			}
			for _, r := range before.Resources() {
				if _, ok := after.Named(r.Name); !ok {
					touched = append(touched, "-"+r.Name)
				}
			}
			slices.Sort(touched)
			assert.Equal(t, tc.touched, touched)
		})
	}
}

package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
)

const (
	tURN     = "urn:pulumi:dev::gitlab-kapsule::"
	tStack   = tURN + "pulumi:pulumi:Stack::gitlab-kapsule-dev"
	tGLProv  = tURN + "gitlab-kapsule:index:Agent$pulumi:providers:gitlab::agent-gitlab"
	tK8sProv = tURN + "gitlab-kapsule:index:Kapsule$pulumi:providers:kubernetes::kapsule-k8s"
	tProject = tURN + "gitlab-kapsule:index:Agent$gitlab:index/project:Project::agent-project"
	tToken   = tURN + "gitlab-kapsule:index:Agent$gitlab:index/clusterAgentToken:ClusterAgentToken::agent-token"
	tReady   = tURN + "gitlab-kapsule:index:GitLabHost$gitlabwait:index:GitLabConfigured::gitlab-configured"
	tSecret  = tURN + "gitlab-kapsule:index:Agent$kubernetes:core/v1:Secret::agent-token-secret"
	tRelease = tURN + "gitlab-kapsule:index:Agent$kubernetes:helm.sh/v3:Release::agent-release"
	tServer  = tURN + "gitlab-kapsule:index:GitLabHost$scaleway:instance/server:Server::gitlab-server"
)

// exported is a state as `pulumi stack export --show-secrets` writes it:
// the GitLab side (provider, project, token, readiness wait), a cluster's
// objects (a Secret that depends on the token, a release), the server, a
// pending create.
func exported(t *testing.T) apitype.UntypedDeployment {
	t.Helper()
	// A decrypted secret: its value's JSON under "plaintext".
	secret := func(v any) map[string]any {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return map[string]any{"4dabf18193072939515e22adb298388d": secretSig, "plaintext": string(b)}
	}
	res := []map[string]any{
		{"urn": tStack, "custom": false, "type": "pulumi:pulumi:Stack"},
		{"urn": tGLProv, "custom": true, "id": "p1", "type": "pulumi:providers:gitlab", "parent": tStack},
		{"urn": tK8sProv, "custom": true, "id": "k1", "type": "pulumi:providers:kubernetes", "parent": tStack,
			"inputs": map[string]any{"kubeconfig": secret("apiVersion: v1\nclusters:\n- cluster:\n    server: https://abc.api.k8s.fr-par.scw.cloud:6443\n  name: c\n")}},
		{"urn": tServer, "custom": true, "id": "fr-par-1/s", "type": "scaleway:instance/server:Server", "parent": tStack},
		{"urn": tReady, "custom": true, "id": "r", "type": "gitlabwait:index:GitLabConfigured", "parent": tStack,
			"dependencies": []string{tServer},
			"inputs": map[string]any{
				"bastionHost": "51.15.0.1", "bastionPort": 61000, "privateKey": secret("-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n"),
				"targetHost": "10.0.0.10", "targetPort": 443, "scheme": "https",
			},
			"outputs": map[string]any{"bastionHostKeyFingerprint": "SHA256:pinned"}},
		{"urn": tProject, "custom": true, "id": "1", "type": "gitlab:index/project:Project", "parent": tStack,
			"provider": tGLProv + "::p1", "dependencies": []string{tReady}},
		{"urn": tToken, "custom": true, "id": "2", "type": "gitlab:index/clusterAgentToken:ClusterAgentToken", "parent": tStack,
			"provider": tGLProv + "::p1", "dependencies": []string{tProject}},
		{"urn": tSecret, "custom": true, "id": "gitlab-agent/t", "type": "kubernetes:core/v1:Secret", "parent": tStack,
			"provider": tK8sProv + "::k1", "dependencies": []string{tToken, tK8sProv},
			"propertyDependencies": map[string][]string{"stringData": {tToken}}},
		{"urn": tRelease, "custom": true, "id": "gitlab-agent/gitlab-agent", "type": "kubernetes:helm.sh/v3:Release", "parent": tStack,
			"provider": tK8sProv + "::k1", "dependencies": []string{tSecret}, "deletedWith": tSecret},
	}
	dep := map[string]any{
		"manifest":           map[string]any{"time": "2026-12-01T00:00:00Z"},
		"resources":          res,
		"pending_operations": []map[string]any{{"resource": map[string]any{"urn": tServer, "type": "scaleway:instance/server:Server"}, "type": "creating"}},
	}
	b, err := json.Marshal(dep)
	require.NoError(t, err)
	return apitype.UntypedDeployment{Version: 3, Deployment: b}
}

// TestStateDropKeepsTheStateWhole: dropping the GitLab side removes those
// resources and every reference the others keep to them (the Secret's
// dependency and property dependency on the token), leaves the rest as it
// was, and keeps fields the package does not read (manifest).
func TestStateDropKeepsTheStateWhole(t *testing.T) {
	t.Parallel()
	st, err := parseState(exported(t))
	require.NoError(t, err)
	removed, err := st.drop(st.gitlabSide())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{tReady, tProject, tToken}, removed)
	d, err := st.encode()
	require.NoError(t, err)
	var back struct {
		Manifest  map[string]any `json:"manifest"`
		Resources []struct {
			URN          string              `json:"urn"`
			Dependencies []string            `json:"dependencies"`
			PropDeps     map[string][]string `json:"propertyDependencies"`
			DeletedWith  string              `json:"deletedWith"`
		} `json:"resources"`
	}
	require.NoError(t, json.Unmarshal(d.Deployment, &back))
	assert.Equal(t, "2026-12-01T00:00:00Z", back.Manifest["time"])
	var urns []string
	for _, r := range back.Resources {
		urns = append(urns, r.URN)
		switch r.URN {
		case tSecret:
			assert.Equal(t, []string{tK8sProv}, r.Dependencies)
			assert.Empty(t, r.PropDeps["stringData"])
		case tRelease:
			assert.Equal(t, []string{tSecret}, r.Dependencies)
			assert.Equal(t, tSecret, r.DeletedWith, "a reference to a kept resource stays")
		}
	}
	assert.Equal(t, []string{tStack, tGLProv, tK8sProv, tServer, tSecret, tRelease}, urns, "the GitLab provider stays: the program registers it again")

	// A parent takes its children along; a dropped deleted-with target is unlinked.
	st, err = parseState(exported(t))
	require.NoError(t, err)
	removed, err = st.drop(map[string]bool{tSecret: true})
	require.NoError(t, err)
	assert.Equal(t, []string{tSecret}, removed)
	_, hasDeletedWith := st.resources[len(st.resources)-1]["deletedWith"]
	assert.False(t, hasDeletedWith)
}

// TestPendingOperations: the pending operations are read and cleared, and
// the notice names each and what to check.
func TestPendingOperations(t *testing.T) {
	t.Parallel()
	st, err := parseState(exported(t))
	require.NoError(t, err)
	ops, err := st.pending()
	require.NoError(t, err)
	require.Equal(t, []PendingOperation{{URN: tServer, Type: "scaleway:instance/server:Server", Name: "gitlab-server", Op: "creating"}}, ops)
	msg := PendingNotice("dev", ops)
	assert.Contains(t, msg, `creating scaleway:instance/server:Server "gitlab-server" (`+tServer+`)`)
	assert.Contains(t, msg, "Scaleway console")
	st.clearPending()
	d, err := st.encode()
	require.NoError(t, err)
	assert.NotContains(t, string(d.Deployment), "pending_operations")
}

// TestUnreachableParts: the GitLab probe gets the readiness wait's inputs
// from the state (the decrypted key, the pinned host key); a GitLab that
// does not answer skips the GitLab side; a cluster whose API does not
// answer skips its objects, the probe dialling the kubeconfig's server.
func TestUnreachableParts(t *testing.T) {
	t.Parallel()
	st, err := parseState(exported(t))
	require.NoError(t, err)
	var gotArgs provider.GitLabReadyArgs
	var dialled []string
	p := Prober{
		GitLab: func(_ context.Context, a provider.GitLabReadyArgs) error {
			gotArgs = a
			return errors.New("cannot reach the bastion 51.15.0.1:61000")
		},
		Cluster: func(_ context.Context, addr string) error {
			dialled = append(dialled, addr)
			return nil
		},
	}
	parts := p.unreachable(context.Background(), st, st)
	require.Len(t, parts, 1)
	assert.Equal(t, "GitLab", parts[0].Part)
	assert.Equal(t, []string{tToken, tProject, tReady}, parts[0].Resources, "sorted")
	assert.Equal(t, "51.15.0.1", gotArgs.BastionHost)
	assert.Equal(t, 61000, gotArgs.BastionPort)
	assert.Contains(t, gotArgs.PrivateKey, "BEGIN OPENSSH PRIVATE KEY")
	assert.Equal(t, "SHA256:pinned", gotArgs.HostKeyFingerprint)
	assert.Equal(t, 443, gotArgs.TargetPort)
	assert.Equal(t, []string{"abc.api.k8s.fr-par.scw.cloud:6443"}, dialled)
	_, err = gotArgs.WaitConfig()
	assert.ErrorContains(t, err, "privateKey", "the stand-in key does not parse: the real probe would say so")

	p.GitLab = func(context.Context, provider.GitLabReadyArgs) error { return nil }
	p.Cluster = func(context.Context, string) error { return errors.New("no such host") }
	parts = p.unreachable(context.Background(), st, st)
	require.Len(t, parts, 1)
	assert.Equal(t, []string{tSecret, tRelease}, parts[0].Resources)
	msg := SkippedNotice("destroy", parts)
	assert.Contains(t, msg, "is unreachable (its API https://abc.api.k8s.fr-par.scw.cloud:6443 does not answer: no such host): destroy removes its 2 resources from the stack without deleting them there")
	assert.Contains(t, msg, tRelease)
	assert.Contains(t, SkippedNotice("refresh", parts), "refresh skips its 2 resources, which keep their last recorded state")
}

// TestRefreshExcludeKeepsTheCallersExclusions: optrefresh.Exclude sets
// the list, so the recovery's exclusions are merged with the caller's.
func TestRefreshExcludeKeepsTheCallersExclusions(t *testing.T) {
	t.Parallel()
	assert.Nil(t, refreshExclude(nil, nil))
	var o optrefresh.Options
	for _, opt := range refreshExclude([]string{"urn:b"}, []optrefresh.Option{optrefresh.Exclude([]string{"urn:a"})}) {
		opt.ApplyOption(&o)
	}
	assert.Equal(t, []string{"urn:a", "urn:b"}, o.Exclude)
}

// TestKubeconfigServer: the API URL of a kubeconfig as Kapsule writes it
// (YAML) or as JSON, and its address.
func TestKubeconfigServer(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "https://x.api.k8s.fr-par.scw.cloud:6443", kubeconfigServer("clusters:\n- cluster:\n    certificate-authority-data: Zm9v\n    server: https://x.api.k8s.fr-par.scw.cloud:6443\n"))
	assert.Equal(t, "https://127.0.0.1:40000", kubeconfigServer(`{"clusters":[{"cluster":{"server":"https://127.0.0.1:40000"}}]}`))
	assert.Empty(t, kubeconfigServer(""))
	addr, err := hostPort("https://x.example")
	require.NoError(t, err)
	assert.Equal(t, "x.example:443", addr)
}

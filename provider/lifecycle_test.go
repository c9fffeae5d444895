package provider

import (
	"context"
	"maps"
	"slices"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/integration"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// TestLifecycle runs each resource through a create, an update to a longer
// timeout, which is recorded without asking GitLab again, and its own further
// updates. Every create records the bastion host key its wait trusted and
// keeps the private key a secret.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	ready := readyFixture(502, 404, 200)
	agent, gql := agentFixture(noProject, noAgent, noConn, connected)
	// Pipeline 12 (shaB) is main's newest; pipeline 11 (shaA) is older.
	pipeline, pipelines := pipelineFixture(noPipeline, running11, append(slices.Clone(success11),
		fakePipeline{ID: 12, Ref: "main", Sha: shaB, Status: "success", FinishedAt: "2026-01-03T00:00:00.000Z"}))
	for _, tc := range []struct {
		fixture
		// created and updated are the resource's own checks of the create and the timeout update.
		created, updated func(t *testing.T, out property.Map)
		// more are further updates, given the resource's inputs with extra.
		more func(in func(extra map[string]property.Value) property.Map) []integration.Operation
	}{{
		fixture: ready,
		created: func(t *testing.T, out property.Map) {
			assert.NotEmpty(t, out.Get("readyAt").AsString())
			assert.Equal(t, "bastion", out.Get("bastionUser").AsString(), "defaults are applied")
			assert.Equal(t, "/-/readiness?all=1", out.Get("path").AsString())
			assert.EqualValues(t, 3, ready.requests.Load(), "the create waited: 502, 404, 200")
		},
		updated: func(t *testing.T, out property.Map) {
			assert.NotEmpty(t, out.Get("readyAt").AsString(), "outputs survive an update")
		},
		more: func(in func(extra map[string]property.Value) property.Map) []integration.Operation {
			// A replaced instance (same reserved address) means waiting again.
			return []integration.Operation{{
				Inputs: in(map[string]property.Value{"timeout": property.New("1h"), "instanceId": property.New("instance-2")}),
				Hook:   func(_, _ property.Map) { assert.EqualValues(t, 4, ready.requests.Load(), "a replacement polls again") },
			}}
		},
	}, {
		fixture: agent,
		created: func(t *testing.T, out property.Map) {
			assert.EqualValues(t, 4, gql.n.Load(), "the create waited through every stage")
			assert.Equal(t, "Bearer "+patForTests, gql.auth.Load(), "GraphQL gets the token")
			assert.Equal(t, map[string]string{"fullPath": "root/kubernetes-agent", "name": "kapsule"}, gql.vars.Load())
			assert.EqualValues(t, 2, out.Get("connections").AsNumber())
			assert.Equal(t, "v18.5.1", out.Get("agentVersion").AsString())
			assert.Equal(t, "2026-01-02T03:04:05Z", out.Get("connectedAt").AsString())
			assert.True(t, out.Get("token").Secret(), "the token stays a secret in state")
			assert.Equal(t, "15m", out.Get("timeout").AsString(), "defaults are applied")
		},
		updated: func(*testing.T, property.Map) {},
		more:    func(func(map[string]property.Value) property.Map) []integration.Operation { return nil },
	}, {
		fixture: pipeline,
		created: func(t *testing.T, out property.Map) {
			assert.EqualValues(t, 3, pipelines.lists.Load(), "the create waited: no pipeline, running, success")
			assert.EqualValues(t, 12, out.Get("pipelineId").AsNumber(), "main's newest pipeline")
			assert.Equal(t, shaB, out.Get("commitSha").AsString())
			assert.Equal(t, "success", out.Get("status").AsString())
			assert.True(t, out.Get("token").Secret(), "the token stays a secret in state")
		},
		updated: func(t *testing.T, out property.Map) {
			assert.EqualValues(t, 12, out.Get("pipelineId").AsNumber(), "outputs survive an update")
		},
		more: func(in func(extra map[string]property.Value) property.Map) []integration.Operation {
			// A commit given (a new CI file) means waiting for its pipeline.
			return []integration.Operation{{
				Inputs: in(map[string]property.Value{"timeout": property.New("1h"), "sha": property.New(shaA)}),
				Hook: func(_, out property.Map) {
					assert.EqualValues(t, 4, pipelines.lists.Load(), "a replacement polls again")
					assert.EqualValues(t, 11, out.Get("pipelineId").AsNumber(), "the commit's pipeline")
				},
			}}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newFakeEnv(t, tc.gitlab, nil)
			in := func(extra map[string]property.Value) property.Map {
				return tc.inputs(env.key, env.host, env.port, extra)
			}
			var asked int32
			integration.LifeCycleTest{
				Resource: tc.urn.Type(),
				Create: integration.Operation{
					Inputs: in(nil),
					Hook: func(_, out property.Map) {
						assert.Equal(t, ssh.FingerprintSHA256(env.bastion.hostSigner.PublicKey()), out.Get("bastionHostKeyFingerprint").AsString())
						assert.True(t, out.Get("privateKey").Secret(), "the key stays a secret in state")
						tc.created(t, out)
						asked = tc.requests.Load()
					},
				},
				Updates: append([]integration.Operation{{
					Inputs: in(map[string]property.Value{"timeout": property.New("1h")}),
					Hook: func(_, out property.Map) {
						assert.Equal(t, "1h", out.Get("timeout").AsString())
						assert.Equal(t, asked, tc.requests.Load(), "an update does not ask GitLab")
						tc.updated(t, out)
					},
				}}, tc.more(in)...),
			}.Run(t, env.server)
		})
	}
}

// checkFailures checks in as the engine would and returns the failures'
// reasons by input.
func checkFailures(t *testing.T, in property.Map, urn presource.URN) map[string]string {
	t.Helper()
	resp, err := newServer(t, Options{}).Check(p.CheckRequest{Urn: urn, Inputs: in})
	require.NoError(t, err)
	got := map[string]string{}
	for _, f := range resp.Failures {
		got[f.Property] = f.Reason
	}
	return got
}

func TestCheckReportsInvalidInputsByKey(t *testing.T) {
	t.Parallel()
	got := checkFailures(t, property.NewMap(map[string]property.Value{
		"bastionHost":        property.New(""),
		"bastionPort":        property.New(70000.0),
		"privateKey":         property.New("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n").WithSecret(true),
		"targetHost":         property.New("10.0.0.10"),
		"scheme":             property.New("ftp"),
		"timeout":            property.New("soon"),
		"pollInterval":       property.New("-1s"),
		"path":               property.New("readiness"),
		"caCert":             property.New("junk"),
		"hostKeyFingerprint": property.New("MD5:aa"),
	}), urn)
	for _, k := range []string{"bastionHost", "bastionPort", "privateKey", "scheme", "timeout", "pollInterval", "path", "caCert", "hostKeyFingerprint"} {
		assert.Contains(t, got, k)
	}
	assert.NotContains(t, got["privateKey"], "not a key", "the key never appears in a message")
	assert.NotContains(t, got, "targetHost")
}

func TestAgentConnectedCheckNamesBadInputs(t *testing.T) {
	t.Parallel()
	key, _ := newKeyPEM(t)
	got := checkFailures(t, agentInputs(key, "10.0.0.10", 443, map[string]property.Value{
		"projectPath": property.New("kubernetes-agent"),
		"agentName":   property.New(""),
	}), agentURN)
	assert.ElementsMatch(t, []string{"projectPath", "agentName"}, slices.Collect(maps.Keys(got)))
}

func TestDiff(t *testing.T) {
	t.Parallel()
	base := GitLabReadyArgs{Access: Access{BastionHost: "gw", BastionPort: 61000, PrivateKey: "k", TargetHost: "10.0.0.10"}, InstanceID: "i-1"}
	state := GitLabReadyState{GitLabReadyArgs: base.withDefaults(), ReadyAt: "2026-01-01T00:00:00Z"}
	same := base
	same.BastionUser, same.TargetPort, same.Path = "bastion", 80, DefaultPath
	testDiffCases(t, &GitLabReady{}, state, base, same, []diffCase[GitLabReadyArgs]{
		{"new instance", func(a *GitLabReadyArgs) { a.InstanceID = "i-2" }, "instanceId", p.UpdateReplace},
		{"new address", func(a *GitLabReadyArgs) { a.TargetHost = "10.0.0.11" }, "targetHost", p.UpdateReplace},
		{"https", func(a *GitLabReadyArgs) { a.Scheme = "https" }, "scheme", p.UpdateReplace},
		{"port", func(a *GitLabReadyArgs) { a.TargetPort = 443 }, "targetPort", p.UpdateReplace},
		{"path", func(a *GitLabReadyArgs) { a.Path = "/-/readiness" }, "path", p.UpdateReplace},
		{"new key", func(a *GitLabReadyArgs) { a.PrivateKey = "k2" }, "privateKey", p.Update},
		{"new bastion", func(a *GitLabReadyArgs) { a.BastionHost = "gw2" }, "bastionHost", p.Update},
		{"timeout", func(a *GitLabReadyArgs) { a.Timeout = "1h" }, "timeout", p.Update},
	})
}

func TestAgentConnectedDiffReplacesOnNewTokenOrAgent(t *testing.T) {
	t.Parallel()
	base := AgentConnectedArgs{Access: Access{BastionHost: "gw", BastionPort: 61000, PrivateKey: "k", TargetHost: "10.0.0.10"},
		Token: "t", ProjectPath: "root/kubernetes-agent", AgentName: "kapsule", TokenID: "7"}
	state := AgentConnectedState{AgentConnectedArgs: base.withDefaults(), Connections: 2}
	testDiffCases(t, &AgentConnected{}, state, base, base, []diffCase[AgentConnectedArgs]{
		{"new agent token", func(a *AgentConnectedArgs) { a.TokenID = "8" }, "tokenId", p.UpdateReplace},
		{"new agent", func(a *AgentConnectedArgs) { a.AgentName = "other" }, "agentName", p.UpdateReplace},
		{"new project", func(a *AgentConnectedArgs) { a.ProjectPath = "root/other" }, "projectPath", p.UpdateReplace},
		{"new gitlab", func(a *AgentConnectedArgs) { a.TargetHost = "10.0.0.11" }, "targetHost", p.UpdateReplace},
		{"new api token", func(a *AgentConnectedArgs) { a.Token = "t2" }, "token", p.Update},
		{"new bastion", func(a *AgentConnectedArgs) { a.BastionHost = "gw2" }, "bastionHost", p.Update},
		{"timeout", func(a *AgentConnectedArgs) { a.Timeout = "1h" }, "timeout", p.Update},
	})
}

// diffCase changes one input and says how Diff must judge the change.
type diffCase[A any] struct {
	name   string
	change func(*A)
	key    string
	kind   p.DiffKind
}

// testDiffCases runs Diff for each case, base changed by it against state:
// Diff must see exactly the changed key, judged kind. same (base with
// defaults spelled out) must be no change.
func testDiffCases[A, S any](t *testing.T, r infer.CustomDiff[A, S], state S, base, same A, cases []diffCase[A]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := base
			tt.change(&in)
			d, err := r.Diff(context.Background(), infer.DiffRequest[A, S]{ID: "test", State: state, Inputs: in})
			require.NoError(t, err)
			assert.True(t, d.HasChanges)
			require.Len(t, d.DetailedDiff, 1)
			assert.Equal(t, tt.kind, d.DetailedDiff[tt.key].Kind)
		})
	}
	t.Run("defaults spelled out are no change", func(t *testing.T) {
		t.Parallel()
		d, err := r.Diff(context.Background(), infer.DiffRequest[A, S]{ID: "test", State: state, Inputs: same})
		require.NoError(t, err)
		assert.False(t, d.HasChanges)
	})
}

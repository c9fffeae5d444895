package preflight

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	iam "github.com/scaleway/scaleway-sdk-go/api/iam/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	k8s "github.com/scaleway/scaleway-sdk-go/api/k8s/v1"
	marketplace "github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/scaleway/scaleway-sdk-go/scw"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

const (
	testAccessKey = "SCWTESTTESTTESTTEST0"
	testSecretKey = "11111111-2222-3333-4444-555555555555"
	testProject   = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	otherProject  = "ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee"
)

// pubKey is a deterministic ED25519 public key, as an authorized_keys line
// ending in comment (none when empty).
func pubKey(t *testing.T, seed byte, comment string) string {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	pk, err := ssh.NewPublicKey(priv.Public())
	require.NoError(t, err)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	if comment != "" {
		line += " " + comment
	}
	return line
}

func date(s string) *time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return &d
}

// world is the stand-in's default content: fr-par offers 1.36.1, 1.35.3 and
// 1.33.10 (1.32.9 is listed but deprecated), fr-par-1 has seven instance
// types (START1-S at end of service), fr-par-2 four of them (no PRO2-XXS),
// ubuntu_noble exists for SBS in fr-par-1 for PRO2 and DEV1 types,
// ubuntu_jammy only for GP1-XS, and the project holds two keys (the IAM API
// stores them without comments).
func world(t *testing.T) *standIn {
	return &standIn{
		t:         t,
		secretKey: testSecretKey,
		pageSize:  2,
		versions: map[string][]*k8s.Version{
			"fr-par": {
				{Name: "1.33.10", Region: "fr-par"},
				{Name: "1.36.1", Region: "fr-par"},
				{Name: "1.32.9", Region: "fr-par", DeprecatedAt: date("2025-01-01")},
				{Name: "1.35.3", Region: "fr-par", DeprecatedAt: date("2999-01-01")},
			},
		},
		serverTypes: map[string]map[string]*instance.ServerType{
			"fr-par-1": {
				"PRO2-XXS": {Ncpus: 2}, "PRO2-XS": {Ncpus: 4}, "PRO2-S": {Ncpus: 8}, "PRO2-M": {Ncpus: 16},
				"DEV1-S": {Ncpus: 2}, "GP1-XS": {Ncpus: 4}, "START1-S": {Ncpus: 2, EndOfService: true},
			},
			"fr-par-2": {
				"PRO2-XS": {Ncpus: 4}, "PRO2-S": {Ncpus: 8}, "GP1-XS": {Ncpus: 4}, "START1-S": {Ncpus: 2, EndOfService: true},
			},
		},
		localImages: []*marketplace.LocalImage{
			{ID: "noble-sbs", Label: "ubuntu_noble", Zone: "fr-par-1", Type: marketplace.LocalImageTypeInstanceSbs, CompatibleCommercialTypes: []string{"PRO2-XXS", "PRO2-XS", "PRO2-S", "PRO2-M", "DEV1-S"}},
			{ID: "noble-local", Label: "ubuntu_noble", Zone: "fr-par-1", Type: marketplace.LocalImageTypeInstanceLocal, CompatibleCommercialTypes: []string{"GP1-XS"}},
			{ID: "noble-par2", Label: "ubuntu_noble", Zone: "fr-par-2", Type: marketplace.LocalImageTypeInstanceSbs, CompatibleCommercialTypes: []string{"PRO2-XS"}},
			{ID: "jammy-sbs", Label: "ubuntu_jammy", Zone: "fr-par-1", Type: marketplace.LocalImageTypeInstanceSbs, CompatibleCommercialTypes: []string{"GP1-XS"}},
		},
		sshKeys: []*iam.SSHKey{
			{ID: "key-alice", Name: "alice-laptop", PublicKey: pubKey(t, 1, ""), ProjectID: testProject},
			{ID: "key-ci", Name: "ci", PublicKey: pubKey(t, 2, ""), ProjectID: testProject},
			{ID: "key-elsewhere", Name: "bob", PublicKey: pubKey(t, 3, ""), ProjectID: otherProject},
		},
	}
}

// baseInput is a valid configuration for world: one cluster, one pool.
func baseInput(t *testing.T) Input {
	return Input{
		Region:            "fr-par",
		Zone:              "fr-par-1",
		Clusters:          []Cluster{{Name: "glk-dev-kapsule", Version: "1.36.1", VersionKey: "kapsule:version"}},
		NodeTypes:         []NodeType{{Key: "kapsule:nodeType", Name: "PRO2-XXS"}},
		InstanceType:      "PRO2-XS",
		Image:             "ubuntu_noble",
		OperatorPublicKey: pubKey(t, 9, "operator@desk"),
		ManagedKeyNames:   []string{"glk-dev-automation", "glk-dev-operator"},
	}
}

// pool is the node type of pool p of cluster c, in zone ("" for scaleway:zone).
func pool(c, p int, name, zone string) NodeType {
	return NodeType{Key: fmt.Sprintf("kapsule:clusters[%d].pools[%d].nodeType", c, p), Name: name, Zone: zone}
}

// kapsule is cluster i of the list, named name.
func kapsule(i int, name, version string) Cluster {
	return Cluster{Name: name, Version: version, VersionKey: fmt.Sprintf("kapsule:clusters[%d].version", i)}
}

// apiFor is the real NewAPI pointed at s, on loopback only.
func apiFor(t *testing.T, s *standIn, secretKey string) API {
	t.Helper()
	srv := s.start()
	api, err := NewAPI(Credentials{AccessKey: testAccessKey, SecretKey: secretKey, ProjectID: testProject, Region: "fr-par", Zone: "fr-par-1"},
		scw.WithAPIURL(srv.URL), scw.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	return api
}

func cluster(name, version string) *k8s.Cluster {
	return &k8s.Cluster{ID: "id-" + name + "-" + version, Name: name, Version: version, Region: "fr-par", ProjectID: testProject, Status: k8s.ClusterStatusReady}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		world    func(*standIn)
		input    func(*Input)
		versions map[string]string // Result.KapsuleVersions; each cluster's configured one when nil
		inProj   bool              // Result.OperatorKeyInProject
		errs     []string          // each must be in the error; none: no error
		n        int               // problems joined in the error, when not 1
		warns    []string          // each must be in one warning; none: no warning
	}{
		{name: "all offered and found"},
		{
			name:  "full version not offered lists the offered ones",
			input: func(in *Input) { in.Clusters[0].Version = "1.34.1" },
			errs:  []string{`kapsule:version "1.34.1" is not offered for new clusters in fr-par: offered are 1.36.1, 1.35.3, 1.33.10: set kapsule:version to "1.36" (a minor: Scaleway applies patches)`},
		},
		{
			name:  "older patch of an offered minor points to the offered patch",
			input: func(in *Input) { in.Clusters[0].Version = "1.35.1" },
			errs:  []string{`kapsule:version "1.35.1" is not offered for new clusters in fr-par`, `set kapsule:version to "1.35.3", or to "1.35"`},
		},
		{
			name:  "deprecated version is not offered",
			input: func(in *Input) { in.Clusters[0].Version = "1.32.9" },
			errs:  []string{`kapsule:version "1.32.9" is not offered for new clusters in fr-par: offered are 1.36.1, 1.35.3, 1.33.10`},
		},
		{name: "minor with an offered patch", input: func(in *Input) { in.Clusters[0].Version = "1.35" }},
		{
			name:  "minor without an offered patch",
			input: func(in *Input) { in.Clusters[0].Version = "1.34" },
			errs:  []string{`kapsule:version "1.34" is not offered for new clusters in fr-par`},
		},
		{
			name: "existing cluster upgraded by Scaleway is adopted",
			world: func(s *standIn) {
				s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.35.3"), cluster("glk-dev-kapsule-old", "1.36.1"), cluster("glk-dev-kapsule", "1.36.1")}
				s.clusters[2].Region = "nl-ams"
			},
			input:    func(in *Input) { in.Clusters[0].Version = "1.34.1" }, // no longer offered: no error, the cluster exists
			versions: map[string]string{"glk-dev-kapsule": "1.35.3"},
			warns:    []string{`kapsule:version is "1.34.1" but Kapsule cluster "glk-dev-kapsule" already runs 1.35.3`, `set kapsule:version to "1.35.3"`},
		},
		{
			name:     "existing cluster upgraded by Scaleway, minor form",
			world:    func(s *standIn) { s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.35.3")} },
			input:    func(in *Input) { in.Clusters[0].Version = "1.34" },
			versions: map[string]string{"glk-dev-kapsule": "1.35"},
			warns:    []string{`set kapsule:version to "1.35"`},
		},
		{
			name:  "existing cluster at the configured version that is no longer offered",
			world: func(s *standIn) { s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.32.9")} },
			input: func(in *Input) { in.Clusters[0].Version = "1.32.9" },
		},
		{
			name:  "existing cluster one minor behind is an upgrade",
			world: func(s *standIn) { s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.35.3")} },
		},
		{
			name: "configured more than one minor ahead of the cluster",
			world: func(s *standIn) {
				s.versions["fr-par"] = append(s.versions["fr-par"], &k8s.Version{Name: "1.34.5", Region: "fr-par"})
				s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.33.10")}
			},
			input: func(in *Input) { in.Clusters[0].Version = "1.35.3" },
			errs:  []string{`kapsule:version "1.35.3" is more than one minor ahead of Kapsule cluster "glk-dev-kapsule", which runs 1.33.10`, `set kapsule:version to "1.34.5"`},
		},
		{
			// The minor form is held to the same rule (docs-content
			// pages/kubernetes/how-to/upgrade-kubernetes-version.mdx: "the
			// latest patch or next minor version"; several minors are
			// upgraded "for each minor version" in turn).
			name:  "minor form more than one minor ahead of the cluster",
			world: func(s *standIn) { s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.33.10")} },
			input: func(in *Input) { in.Clusters[0].Version = "1.35" },
			errs:  []string{`kapsule:version "1.35" is more than one minor ahead of Kapsule cluster "glk-dev-kapsule", which runs 1.33.10`, `set kapsule:version to "1.34", run up, then go on one minor at a time`},
		},
		{
			name:  "a major ahead of the cluster",
			world: func(s *standIn) { s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.35.3")} },
			input: func(in *Input) { in.Clusters[0].Version = "2.0" },
			errs:  []string{`kapsule:version "2.0" is more than one minor ahead of Kapsule cluster "glk-dev-kapsule", which runs 1.35.3`, `set kapsule:version to "1.36"`},
		},
		{
			name:  "upgrade to a version not offered",
			world: func(s *standIn) { s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.35.3")} },
			input: func(in *Input) { in.Clusters[0].Version = "1.36.0" },
			errs:  []string{`kapsule:version "1.36.0" is not offered in fr-par as an upgrade of Kapsule cluster "glk-dev-kapsule", which runs 1.35.3`, `set kapsule:version to "1.36.1"`},
		},
		{
			name:  "unknown node type lists near ones",
			input: func(in *Input) { in.NodeTypes[0].Name = "PRO2-XXXS" },
			errs:  []string{`kapsule:nodeType "PRO2-XXXS" is not an instance type in fr-par-1: set it to one of PRO2-XXS, PRO2-XS`},
		},
		{
			name:  "node type in another spelling",
			input: func(in *Input) { in.NodeTypes[0].Name = "pro2_xxs" },
			warns: []string{`kapsule:nodeType "pro2_xxs" is spelled "PRO2-XXS" by Scaleway`},
		},
		{
			name:  "unknown instance type",
			input: func(in *Input) { in.InstanceType = "PRO3-XS" },
			errs:  []string{`gitlabHost:instanceType "PRO3-XS" is not an instance type in fr-par-1: set it to one of PRO2-XS`},
		},
		{
			name:  "instance type at end of service",
			input: func(in *Input) { in.InstanceType = "START1-S"; in.Image = "" },
			warns: []string{`gitlabHost:instanceType "START1-S" has reached end of service in fr-par-1`},
		},
		{
			name:  "image label missing",
			input: func(in *Input) { in.Image = "ubuntu_nobel" },
			errs:  []string{`gitlabHost:image "ubuntu_nobel" is not a marketplace image label in fr-par-1`},
		},
		{
			name:  "image without a build for the instance type",
			input: func(in *Input) { in.Image = "ubuntu_jammy" },
			errs:  []string{`gitlabHost:image "ubuntu_jammy" has no image in fr-par-1 for gitlabHost:instanceType "PRO2-XS": set gitlabHost:image to a label with one for that type, or gitlabHost:instanceType to one of GP1-XS`},
		},
		{
			name:   "operator key already in the project under another name and comment",
			input:  func(in *Input) { in.OperatorPublicKey = pubKey(t, 1, "alice@home") },
			inProj: true,
			warns:  []string{`network:sshPublicKey is already the project's IAM SSH key "alice-laptop" (key-alice)`},
		},
		{
			name: "operator key only under the stack's own name",
			world: func(s *standIn) {
				s.sshKeys = append(s.sshKeys, &iam.SSHKey{ID: "key-op", Name: "glk-dev-operator", PublicKey: pubKey(t, 9, ""), ProjectID: testProject})
			},
		},
		{
			name: "operator key in the project but disabled",
			world: func(s *standIn) {
				s.sshKeys = append(s.sshKeys, &iam.SSHKey{ID: "key-old", Name: "old", PublicKey: pubKey(t, 9, ""), ProjectID: testProject, Disabled: true})
			},
			inProj: true,
			warns:  []string{`network:sshPublicKey is the project's IAM SSH key "old" (key-old), which is disabled`},
		},
		{
			name:  "operator key that is not a key",
			input: func(in *Input) { in.OperatorPublicKey = "ssh-ed25519 not-base64" },
			errs:  []string{"network:sshPublicKey is not an OpenSSH public key"},
		},
		{
			name: "several problems at once",
			input: func(in *Input) {
				in.Clusters[0].Version, in.NodeTypes[0].Name, in.InstanceType, in.Image = "1.31.2", "XXL-9", "PRO2-XZ", "ubuntu_nobel"
			},
			errs: []string{`kapsule:version "1.31.2"`, `kapsule:nodeType "XXL-9"`, `gitlabHost:instanceType "PRO2-XZ"`, `gitlabHost:image "ubuntu_nobel"`},
			n:    4,
		},
		{
			name:  "a forbidden call is reported, the others still checked",
			world: func(s *standIn) { s.forbidden = map[string]bool{"/iam/v1alpha1/ssh-keys": true} },
			input: func(in *Input) { in.NodeTypes[0].Name = "PRO2-XXXS" },
			errs:  []string{"the Scaleway API key may not do this while listing the IAM SSH keys of project " + testProject, "give the key's IAM application or user a policy", `kapsule:nodeType "PRO2-XXXS"`},
			n:     2,
		},
		{
			name: "each cluster's version is judged under its own key",
			input: func(in *Input) {
				in.Clusters = []Cluster{kapsule(0, "glk-dev-kapsule", "1.36.1"), kapsule(1, "glk-dev-gpu", "1.34")}
			},
			errs: []string{`kapsule:clusters[1].version "1.34" is not offered for new clusters in fr-par: offered are 1.36.1, 1.35.3, 1.33.10: set kapsule:clusters[1].version to "1.36"`},
		},
		{
			name: "two clusters of one name",
			input: func(in *Input) {
				in.Clusters = []Cluster{kapsule(0, "glk-dev-kapsule", "1.36.1"), kapsule(1, "glk-dev-kapsule", "1.36.1")}
			},
			errs: []string{`kapsule:clusters[0].version and kapsule:clusters[1].version are the versions of two Kapsule clusters named "glk-dev-kapsule"`},
		},
		{
			name: "node type offered in one pool's zone only",
			input: func(in *Input) {
				in.NodeTypes = []NodeType{pool(0, 0, "PRO2-XXS", ""), pool(0, 1, "PRO2-XXS", "fr-par-2")}
			},
			errs: []string{`kapsule:clusters[0].pools[1].nodeType "PRO2-XXS" is not an instance type in fr-par-2: set it to one of PRO2-XS, PRO2-S`},
		},
		{
			name:  "node type at end of service in its pool's zone",
			input: func(in *Input) { in.NodeTypes = append(in.NodeTypes, pool(1, 0, "start1_s", "fr-par-2")) },
			warns: []string{
				`kapsule:clusters[1].pools[0].nodeType "START1-S" has reached end of service in fr-par-2`,
				`kapsule:clusters[1].pools[0].nodeType "start1_s" is spelled "START1-S" by Scaleway`,
			},
		},
		{
			name:  "a pool zone's listing forbidden, the other zone still checked",
			world: func(s *standIn) { s.forbidden = map[string]bool{"/instance/v1/zones/fr-par-2/products/servers": true} },
			input: func(in *Input) {
				in.NodeTypes = []NodeType{pool(0, 0, "PRO2-XXXS", ""), pool(0, 1, "NOPE", "fr-par-2"), pool(1, 0, "NOPE", "fr-par-2")}
			},
			errs: []string{
				"the Scaleway API key may not do this while listing the instance types of fr-par-2 (the zone of kapsule:clusters[0].pools[1].nodeType, kapsule:clusters[1].pools[0].nodeType)",
				`kapsule:clusters[0].pools[0].nodeType "PRO2-XXXS" is not an instance type in fr-par-1`,
			},
			n: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := world(t)
			if tt.world != nil {
				tt.world(s)
			}
			in := baseInput(t)
			if tt.input != nil {
				tt.input(&in)
			}
			res, err := Check(context.Background(), apiFor(t, s, testSecretKey), in)
			t.Logf("error: %v\nwarnings: %q", err, res.Warnings)
			if len(tt.errs) == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, want := range tt.errs {
					assert.ErrorContains(t, err, want)
				}
				assert.Len(t, unwrapJoined(err), max(tt.n, 1), "problems in %v", err)
			}
			wantVersions := tt.versions
			if wantVersions == nil {
				wantVersions = map[string]string{}
				for _, c := range in.Clusters {
					wantVersions[c.Name] = c.Version
				}
			}
			assert.Equal(t, wantVersions, res.KapsuleVersions)
			assert.Equal(t, tt.inProj, res.OperatorKeyInProject)
			if len(tt.warns) == 0 {
				assert.Empty(t, res.Warnings)
			}
			for _, want := range tt.warns {
				assert.Condition(t, func() bool {
					for _, w := range res.Warnings {
						if strings.Contains(w, want) {
							return true
						}
					}
					return false
				}, "no warning contains %q: %q", want, res.Warnings)
			}
		})
	}
}

// unwrapJoined returns the problems joined in Check's error.
func unwrapJoined(err error) []error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		return joined.Unwrap()
	}
	return []error{err}
}

func TestCheckAsksForEveryPage(t *testing.T) {
	t.Parallel()
	s := world(t)
	for i := range 5 {
		s.sshKeys = append(s.sshKeys, &iam.SSHKey{ID: "more-" + string(rune('a'+i)), Name: "more", PublicKey: pubKey(t, byte(20+i), ""), ProjectID: testProject})
	}
	in := baseInput(t)
	in.NodeTypes[0].Name = "START1-S" // the last type in name order, on the last page
	res, err := Check(context.Background(), apiFor(t, s, testSecretKey), in)
	require.NoError(t, err)
	assert.Len(t, s.requests("/instance/v1/zones/fr-par-1/products/servers"), 4, "7 types, 2 a page")
	assert.Len(t, s.requests("/iam/v1alpha1/ssh-keys"), 4, "7 keys of the project, 2 a page")
	for _, r := range s.requests("/iam/v1alpha1/ssh-keys") {
		assert.Contains(t, r, "project_id="+testProject)
	}
	assert.Contains(t, s.requests("/k8s/v1/regions/fr-par/clusters")[0], "name=glk-dev-kapsule")
	assert.Contains(t, s.requests("/marketplace/v2/local-images")[0], "type=instance_sbs")
	assert.Contains(t, res.Warnings[0], `kapsule:nodeType "START1-S" has reached end of service`)
}

func TestCheckEachClusterKeepsOrAdoptsItsVersion(t *testing.T) {
	t.Parallel()
	s := world(t)
	s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.35.3"), cluster("glk-dev-kapsule-gpu", "1.35.3"), cluster("glk-dev-kapsule-old", "1.33.10")}
	in := baseInput(t)
	in.Clusters = []Cluster{
		kapsule(0, "glk-dev-kapsule", "1.34.1"),   // Scaleway upgraded it: 1.34.1 is no longer offered
		kapsule(1, "glk-dev-kapsule-gpu", "1.36"), // an upgrade of its live 1.35.3
	}
	res, err := Check(context.Background(), apiFor(t, s, testSecretKey), in)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"glk-dev-kapsule": "1.35.3", "glk-dev-kapsule-gpu": "1.36"}, res.KapsuleVersions)
	require.Len(t, res.Warnings, 1, "only the upgraded cluster warns: %q", res.Warnings)
	assert.Contains(t, res.Warnings[0], `kapsule:clusters[0].version is "1.34.1" but Kapsule cluster "glk-dev-kapsule" already runs 1.35.3`)
	assert.Contains(t, res.Warnings[0], `set kapsule:clusters[0].version to "1.35.3"`)
}

func TestCheckAsksEachQuestionOnce(t *testing.T) {
	t.Parallel()
	s := world(t)
	s.clusters = []*k8s.Cluster{cluster("glk-dev-kapsule", "1.36.1"), cluster("glk-dev-gpu", "1.35.3")}
	in := baseInput(t)
	in.Clusters = []Cluster{kapsule(0, "glk-dev-kapsule", "1.36.1"), kapsule(1, "glk-dev-gpu", "1.35")}
	in.NodeTypes = []NodeType{
		pool(0, 0, "PRO2-XXS", ""), pool(0, 1, "PRO2-S", "fr-par-1"), pool(0, 2, "PRO2-XS", "fr-par-2"),
		pool(1, 0, "GP1-XS", "fr-par-2"), pool(1, 1, "PRO2-S", "fr-par-2"),
	}
	_, err := Check(context.Background(), apiFor(t, s, testSecretKey), in)
	require.NoError(t, err)
	assert.Len(t, s.calls("/instance/v1/zones/fr-par-1/products/servers"), 1, "the GitLab zone and its pools")
	assert.Len(t, s.calls("/instance/v1/zones/fr-par-2/products/servers"), 1, "three pools in fr-par-2")
	assert.Len(t, s.calls("/instance/v1/zones/"), 2, "two zones")
	assert.Len(t, s.calls("/k8s/v1/regions/fr-par/versions"), 1)
	clusters := s.calls("/k8s/v1/regions/fr-par/clusters")
	require.Len(t, clusters, 1, "one listing finds both clusters")
	assert.Equal(t, "glk-dev-", query(clusters[0]).Get("name"), "their names' common prefix")
	assert.Len(t, s.calls("/marketplace/v2/local-images"), 1)
	assert.Len(t, s.calls("/iam/v1alpha1/ssh-keys"), 1)
}

func TestCheckListsEveryClusterWithoutACommonPrefix(t *testing.T) {
	t.Parallel()
	s := world(t)
	s.clusters = []*k8s.Cluster{cluster("blue", "1.35.3"), cluster("green", "1.36.1")}
	in := baseInput(t)
	in.Clusters = []Cluster{kapsule(0, "blue", "1.33"), kapsule(1, "green", "1.36")}
	res, err := Check(context.Background(), apiFor(t, s, testSecretKey), in)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"blue": "1.35", "green": "1.36"}, res.KapsuleVersions)
	clusters := s.calls("/k8s/v1/regions/fr-par/clusters")
	require.Len(t, clusters, 1)
	assert.NotContains(t, query(clusters[0]), "name", "no name filter")
}

func TestCommonPrefix(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"glk-dev-kapsule"}, "glk-dev-kapsule"},
		{[]string{"glk-dev-kapsule", "glk-dev-kapsule-gpu"}, "glk-dev-kapsule"},
		{[]string{"glk-dev-kapsule", "glk-dev-gpu", "glk-dev-ci"}, "glk-dev-"},
		{[]string{"blue", "green"}, ""},
		{[]string{"café", "cafè"}, "caf"}, // é and è share their first byte
	} {
		assert.Equal(t, tt.want, commonPrefix(tt.names), "%q", tt.names)
	}
}

func TestProjectKeysDigest(t *testing.T) {
	t.Parallel()
	digest := func(t *testing.T, keys ...*iam.SSHKey) string {
		s := world(t)
		s.sshKeys = keys
		// Only the keys: every other check is skipped.
		res, err := Check(context.Background(), apiFor(t, s, testSecretKey), Input{ManagedKeyNames: []string{"glk-dev-automation", "glk-dev-operator"}})
		require.NoError(t, err)
		for _, r := range s.seen {
			require.True(t, strings.HasPrefix(r, "/iam/v1alpha1/ssh-keys?") || strings.HasPrefix(r, "/metadata?"), "only the keys are asked for: %v", s.seen)
		}
		require.Len(t, res.ProjectKeysDigest, 64)
		return res.ProjectKeysDigest
	}
	key := func(id, name string, seed byte, comment string) *iam.SSHKey {
		return &iam.SSHKey{ID: id, Name: name, PublicKey: pubKey(t, seed, comment), ProjectID: testProject}
	}
	a, b, c := key("a", "alice", 1, ""), key("b", "bob", 2, ""), key("c", "carol", 3, "")
	base := digest(t, a, b)

	assert.Equal(t, base, digest(t, b, a), "stable under reordering")
	assert.Equal(t, base, digest(t, key("a", "alice", 1, "alice@laptop"), b), "a comment is not the key")
	assert.NotEqual(t, base, digest(t, a, b, c), "a key added")
	assert.NotEqual(t, base, digest(t, a), "a key removed")
	assert.NotEqual(t, base, digest(t, key("a2", "alice", 1, ""), b), "a key replaced by a new one")
	disabled := key("c", "carol", 3, "")
	disabled.Disabled = true
	assert.Equal(t, base, digest(t, a, b, disabled), "the bastion does not import disabled keys")
	assert.Equal(t, base, digest(t, a, b, key("m", "glk-dev-automation", 4, "")), "the stack's own keys are marked by their ids")
	assert.Equal(t, base, digest(t, a, b, &iam.SSHKey{ID: "x", Name: "x", PublicKey: pubKey(t, 5, ""), ProjectID: otherProject}), "another project's keys")
}

func TestCheckUnauthorized(t *testing.T) {
	t.Parallel()
	s := world(t)
	_, err := Check(context.Background(), apiFor(t, s, "99999999-2222-3333-4444-555555555555"), baseInput(t))
	t.Log(err)
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.ErrorContains(t, err, "check SCW_ACCESS_KEY and SCW_SECRET_KEY (or scaleway:accessKey and scaleway:secretKey)")
	assert.ErrorContains(t, err, "API key does not exist", "the SDK's reason")
	assert.Equal(t, 1, strings.Count(err.Error(), "scaleway refused the API key"), "one message for all the refused calls: %v", err)
	assert.NotContains(t, err.Error(), "99999999-2222", "the secret key is never printed")
}

func TestCredentialsFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	_, missing := CredentialsFromEnv(env(nil), nil)
	assert.Equal(t, []string{"SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_DEFAULT_PROJECT_ID"}, missing)

	_, missing = CredentialsFromEnv(env(map[string]string{"SCW_ACCESS_KEY": testAccessKey}), map[string]string{"scaleway:projectId": testProject})
	assert.Equal(t, []string{"SCW_SECRET_KEY"}, missing)

	creds, missing := CredentialsFromEnv(
		env(map[string]string{"SCW_ACCESS_KEY": "SCWFROMENVFROMENV000", "SCW_SECRET_KEY": testSecretKey, "SCW_DEFAULT_PROJECT_ID": otherProject, "SCW_DEFAULT_ZONE": "nl-ams-1"}),
		map[string]string{"scaleway:accessKey": testAccessKey, "scaleway:projectId": testProject, "scaleway:apiUrl": "http://127.0.0.1:1"})
	assert.Empty(t, missing)
	assert.Equal(t, Credentials{AccessKey: testAccessKey, SecretKey: testSecretKey, ProjectID: testProject, Zone: "nl-ams-1", APIURL: "http://127.0.0.1:1"}, creds,
		"the Pulumi configuration first, as the Scaleway provider reads it")
}

func TestNewAPIRejectsMalformedCredentials(t *testing.T) {
	t.Parallel()
	_, err := NewAPI(Credentials{AccessKey: "nope", SecretKey: "s3cr3t-value", ProjectID: "p"})
	require.Error(t, err)
	assert.ErrorContains(t, err, "check SCW_ACCESS_KEY")
	assert.ErrorContains(t, err, "check SCW_SECRET_KEY")
	assert.ErrorContains(t, err, "check SCW_DEFAULT_PROJECT_ID")
	assert.NotContains(t, err.Error(), "s3cr3t-value")
}

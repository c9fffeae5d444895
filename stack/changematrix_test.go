package stack_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/block"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/iam"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/instance"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/ipam"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/kubernetes"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/network"
	"github.com/pulumiverse/pulumi-scaleway/sdk/go/scaleway/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The change matrix (issue 13): docs/changes.md says, for every configuration
// key the program reads, what `up` does when it changes. The tests below hold
// that table to the program, under the mocks: each key is changed, alone, from
// the every-option configuration (fullConfig) to another valid value, the
// program runs again, and the resources' inputs are compared by URN. Each
// touched resource is classified with the force-new inputs of
// testdata/forcenew.json (terraform-provider-scaleway's schema), and the key's
// effect must be the table's. A new key, a new resource or a key that starts
// to touch another resource fails with the row to write.
//
// What the mocks cannot show: a resource that follows a replaced one through
// its outputs (the mocks' ids do not change), what a provider other than
// Scaleway's does with a changed input (counted as in place), and the
// replacements Scaleway decides alone (a retired image). docs/changes.md
// says so in its notes.

const changesDoc = "../docs/changes.md"

// keyChange is how the matrix changes one key: set is the new value ("" to
// remove the key), also are other keys that must change with it to stay
// valid ("" removes).
type keyChange struct {
	set  string
	also map[string]string
}

// otherOperatorKey is a second OpenSSH key, for network:sshPublicKey.
const otherOperatorKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq7yqJ3+7sS0dC2m6hKYxA4nYqkq9d0m6Qm9ZzXqW4k other@example"

// matrixChanges are the changes the matrix makes: one per key the program
// reads (programKeys), each to a value valid from fullConfig.
var matrixChanges = map[string]keyChange{
	"scaleway:region": {set: "nl-ams", also: map[string]string{"scaleway:zone": "nl-ams-1"}},
	"scaleway:zone":   {set: "fr-par-2"},

	"network:cidr":            {set: "10.1.0.0/24"},
	"network:bastionPort":     {set: "2222"},
	"network:allowedIpRanges": {set: `["51.15.9.0/24"]`},
	"network:sshPublicKey":    {set: otherOperatorKey},

	"gitlabHost:instanceType":     {set: "POP2-4C-16G"},
	"gitlabHost:image":            {set: "ubuntu_jammy", also: map[string]string{"backup:enabled": "false"}},
	"gitlabHost:edition":          {set: "ee", also: map[string]string{"gitlabHost:version": "18.5.2-ee.0"}},
	"gitlabHost:version":          {set: "18.5.3-ce.0"},
	"gitlabHost:privateIp":        {set: "10.0.0.20"},
	"gitlabHost:diskSizeGb":       {set: "80"},
	"gitlabHost:dataVolumeSizeGb": {set: "200"},
	"gitlabHost:retainDataVolume": {set: "false"},
	"gitlabHost:rootPassword":     {set: "another long password"},
	"gitlabHost:tls":              {set: "false"},

	"kapsule:version":         {set: "1.37"},
	"kapsule:cni":             {set: "calico"},
	"kapsule:nodeType":        {set: "PRO2-XS"},
	"kapsule:size":            {set: "3"},
	"kapsule:apiAllowedCidrs": {set: `["51.15.8.8/32"]`},
	// The same cluster in the list form: its one-cluster keys move into it.
	"kapsule:clusters": {
		set:  `[{"name": "kapsule", "apiAllowedCidrs": ["51.15.100.0/24", "51.15.7.7/32"]}]`,
		also: map[string]string{"kapsule:apiAllowedCidrs": ""},
	},

	"agent:name":             {set: "other"},
	"agent:namespaces":       {set: `["gitops-demo","web"]`},
	"agent:clusterAdmin":     {set: "true"},
	"agent:chartVersion":     {set: "2.20.2"},
	"agent:imageTag":         {set: "v18.5.3"},
	"agent:tunnelPort":       {set: "18444"},
	"agent:ciAccessProjects": {set: `["team/app"]`},

	"runner:enabled":      {set: "false"},
	"runner:chartVersion": {set: "0.82.1"}, // a release runnerChartShips does not know
	"runner:concurrency":  {set: "8"},
	"runner:tags":         {set: `["gpu"]`},
	"runner:privileged":   {set: "true"},

	"backup:enabled":       {set: "false"},
	"backup:schedule":      {set: "*-*-* 03:00:00"},
	"backup:retentionDays": {set: "60"},
	"backup:adoptBucket":   {set: "true"},

	"gitops:enabled":          {set: "false"},
	"gitops:fluxChartVersion": {set: "2.17.1"},
	"gitops:interval":         {set: "2m"},
	"gitops:timeout":          {set: "10m"},
}

// providerKeys are the Scaleway provider's own keys, which config.Load
// accepts in the scaleway namespace (config/keys.go scalewayProviderKeys)
// but the program does not read: the provider does. They are outside the
// matrix; docs/changes.md says what changing them means.
var providerKeys = []string{"scaleway:accessKey", "scaleway:apiUrl", "scaleway:organizationId", "scaleway:profile", "scaleway:projectId", "scaleway:secretKey"}

// probeNamespaces are namespaces to ask config.Load about, besides those of
// the docs' table and of matrixChanges: a namespace the program starts to
// read is found through any of them.
var probeNamespaces = []string{"scaleway", "network", "gitlabHost", "kapsule", "agent", "runner", "backup", "gitops"}

// probeName is a key name no key of the program is near, so that Load's
// refusal lists the namespace's keys instead of suggesting one.
const probeName = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"

var useOneOf = regexp.MustCompile(`use one of ([^\n]+)`)

// programKeys lists every key config.Load reads, as Load itself names them
// when it refuses an unknown key of a namespace ("use one of ..."): the keys'
// one home is Load, which records each key it reads (config/load.go
// reader.get), and this asks it rather than keeping a copy.
func programKeys(t *testing.T, namespaces []string) []string {
	t.Helper()
	cfg := map[string]string{}
	for _, ns := range namespaces {
		cfg[ns+":"+probeName] = "x"
	}
	var loadErr error
	_, err := mockcloud.Run("dev", cfg, nil, func(ctx *pulumi.Context) error {
		_, loadErr = config.Load(config.WithConfiguredKeys(ctx, slices.Collect(maps.Keys(cfg))), components.KapsuleReservedRanges...)
		return nil
	})
	require.NoError(t, err)
	require.Error(t, loadErr, "config.Load accepted unknown keys %v", slices.Sorted(maps.Keys(cfg)))
	keys := map[string]bool{}
	for _, m := range useOneOf.FindAllStringSubmatch(loadErr.Error(), -1) {
		for _, k := range strings.Split(m[1], ", ") {
			keys[strings.TrimRight(strings.TrimSpace(k), ")")] = true
		}
	}
	for _, ns := range namespaces {
		// A namespace the program does not read is refused differently (or
		// not at all); every probed one it reads must list its keys.
		if !strings.Contains(loadErr.Error(), ns+":"+probeName+" is not a key") {
			continue
		}
		require.Condition(t, func() bool {
			return slices.ContainsFunc(slices.Collect(maps.Keys(keys)), func(k string) bool { return strings.HasPrefix(k, ns+":") })
		}, "config.Load refused %s:%s without listing the namespace's keys: %v", ns, probeName, loadErr)
	}
	for _, k := range providerKeys {
		require.True(t, keys[k], "config.Load no longer accepts the Scaleway provider key %s: update providerKeys", k)
		delete(keys, k)
	}
	delete(keys, "") // an empty match, if any
	return slices.Sorted(maps.Keys(keys))
}

// forceNewTable is testdata/forcenew.json.
type forceNewTable struct {
	Source map[string]string       `json:"source"`
	Types  map[string]forceNewType `json:"types"`
}

type forceNewType struct {
	Path        string        `json:"path"`
	Guarded     bool          `json:"guarded"`
	ForceNew    []string      `json:"forceNew"`
	Conditional []conditional `json:"conditional"`
	Notes       string        `json:"notes"`
}

// conditional is an input that replaces the resource only sometimes: when
// another input (of the old or the new inputs) equals a value, when a number
// decreases, or (neither given) whenever it changes.
type conditional struct {
	Property  string `json:"property"`
	Input     string `json:"input"`
	Equals    any    `json:"equals"`
	Decreases bool   `json:"decreases"`
	Why       string `json:"why"`
}

func loadForceNew(t *testing.T) forceNewTable {
	t.Helper()
	b, err := os.ReadFile("testdata/forcenew.json")
	require.NoError(t, err)
	var table forceNewTable
	require.NoError(t, json.Unmarshal(b, &table))
	return table
}

// valuesAt returns the values at a dotted path, looking through secrets and
// into every element of a list.
func valuesAt(v resource.PropertyValue, path []string) []resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	switch {
	case len(path) == 0:
		return []resource.PropertyValue{v}
	case v.IsArray():
		var out []resource.PropertyValue
		for _, e := range v.ArrayValue() {
			out = append(out, valuesAt(e, path)...)
		}
		return out
	case v.IsObject():
		if e, ok := v.ObjectValue()[resource.PropertyKey(path[0])]; ok {
			return valuesAt(e, path[1:])
		}
	}
	return nil
}

func at(m resource.PropertyMap, path string) resource.PropertyValue {
	return resource.NewArrayProperty(valuesAt(resource.NewObjectProperty(m), strings.Split(path, ".")))
}

// forcedBy returns the force-new inputs of typ that differ between old and
// new, by the table.
func (f forceNewTable) forcedBy(typ string, old, new resource.PropertyMap) []string {
	spec := f.Types[typ]
	var forced []string
	for _, p := range spec.ForceNew {
		if !at(old, p).DeepEquals(at(new, p)) {
			forced = append(forced, p)
		}
	}
	for _, c := range spec.Conditional {
		o, n := at(old, c.Property), at(new, c.Property)
		if o.DeepEquals(n) {
			continue
		}
		switch {
		case c.Decreases:
			ov, nv := o.ArrayValue(), n.ArrayValue()
			if len(ov) != 1 || len(nv) != 1 || !ov[0].IsNumber() || !nv[0].IsNumber() || nv[0].NumberValue() >= ov[0].NumberValue() {
				continue
			}
		case c.Input != "":
			want := resource.NewPropertyValue(c.Equals)
			if !slices.ContainsFunc(append(at(old, c.Input).ArrayValue(), at(new, c.Input).ArrayValue()...), want.DeepEquals) {
				continue
			}
		}
		forced = append(forced, c.Property)
	}
	return forced
}

// matrixRow is one row of docs/changes.md's table.
type matrixRow struct {
	key, effect string
	resources   []string
	line        int
}

var tableRow = regexp.MustCompile("^\\|\\s*`([A-Za-z]+:[A-Za-z]+)`\\s*\\|([^|]*)\\|([^|]*)\\|")

// readMatrix parses the rows of the matrix in docs/changes.md: | `key` |
// effect | resources (`a`, `b!`, ... or —) | notes |.
func readMatrix(t *testing.T) map[string]matrixRow {
	t.Helper()
	b, err := os.ReadFile(changesDoc)
	require.NoError(t, err)
	rows := map[string]matrixRow{}
	for i, line := range strings.Split(string(b), "\n") {
		m := tableRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		row := matrixRow{key: m[1], effect: strings.TrimSpace(m[2]), line: i + 1}
		for _, item := range strings.Split(m[3], ",") {
			if item = strings.Trim(strings.TrimSpace(item), "`"); item != "" && item != "—" {
				row.resources = append(row.resources, item)
			}
		}
		slices.Sort(row.resources)
		require.NotContains(t, rows, row.key, "%s:%d: a second row for %s", changesDoc, i+1, row.key)
		require.Contains(t, effectOrder, row.effect, "%s:%d: effect %q of %s is none of %v", changesDoc, i+1, row.effect, row.key, effectOrder)
		rows[row.key] = row
	}
	require.NotEmpty(t, rows, "no matrix rows in %s", changesDoc)
	return rows
}

// rowFor writes the row a key needs, for the failure messages.
func rowFor(key string, ts []touch) string {
	res := "—"
	if len(ts) > 0 {
		res = "`" + strings.Join(marks(ts), "`, `") + "`"
	}
	var why []string
	for _, t := range ts {
		if t.why != "" {
			why = append(why, fmt.Sprintf("%s: %s", t.name, t.why))
		}
	}
	return fmt.Sprintf("| `%s` | %s | %s | %s |", key, effectOf(ts), res, strings.Join(why, "; "))
}

// matrixKeys are the keys the matrix covers: every key the program reads.
func matrixKeys(t *testing.T, rows map[string]matrixRow) []string {
	t.Helper()
	nss := slices.Clone(probeNamespaces)
	for k := range rows {
		nss = append(nss, strings.SplitN(k, ":", 2)[0])
	}
	for k := range matrixChanges {
		nss = append(nss, strings.SplitN(k, ":", 2)[0])
	}
	slices.Sort(nss)
	return programKeys(t, slices.Compact(nss))
}

// runMatrix runs the program with cfg, telling config.Load the configured
// keys, as the command does, so that a key the program does not read fails
// here rather than being ignored.
func runMatrix(t *testing.T, cfg map[string]string) *mockcloud.Cloud {
	t.Helper()
	keys := slices.Sorted(maps.Keys(cfg))
	cloud, err := mockcloud.Run("dev", cfg, []string{"gitlabHost:rootPassword"}, func(ctx *pulumi.Context) error {
		_, err := stack.Build(config.WithConfiguredKeys(ctx, keys))
		return err
	})
	require.NoError(t, err)
	return cloud
}

func TestChangeMatrix(t *testing.T) {
	t.Parallel()
	table := loadForceNew(t)
	rows := readMatrix(t)
	keys := matrixKeys(t, rows)
	for k := range matrixChanges {
		if !slices.Contains(keys, k) {
			t.Errorf("matrixChanges changes %s, which the program does not read: remove it (and its row in %s)", k, changesDoc)
		}
	}
	for k, row := range rows {
		if !slices.Contains(keys, k) {
			t.Errorf("%s:%d has a row for %s, which the program does not read: remove the row", changesDoc, row.line, k)
		}
	}

	base := fullConfig()
	before := runMatrix(t, base)
	for _, r := range before.Resources() {
		if _, ok := table.Types[r.Type]; !ok && strings.HasPrefix(r.Type, "scaleway:") && r.Custom {
			t.Errorf("%s (%s) is a Scaleway type testdata/forcenew.json does not list: add its force-new inputs from terraform-provider-scaleway's schema", r.Type, r.Name)
		}
	}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			change, ok := matrixChanges[key]
			if !ok {
				t.Fatalf("the program reads %s, which the matrix does not change: add it to matrixChanges (a valid value other than fullConfig's), then its row to %s", key, changesDoc)
			}
			cfg := maps.Clone(base)
			for k, v := range maps.All(change.also) {
				cfg[k] = v
			}
			cfg[key] = change.set
			for k, v := range cfg {
				if v == "" {
					delete(cfg, k)
				}
			}
			ts := touches(table, before, runMatrix(t, cfg))
			want := rowFor(key, ts)
			row, ok := rows[key]
			if !ok {
				t.Fatalf("%s has no row for %s; add (with notes on what up does):\n%s", changesDoc, key, want)
			}
			assert.Equal(t, row.effect, effectOf(ts), "%s:%d effect of %s; the row should read:\n%s", changesDoc, row.line, key, want)
			assert.Equal(t, row.resources, sortedMarks(ts), "%s:%d resources of %s; the row should read:\n%s", changesDoc, row.line, key, want)
			// What the guard is for, said on its own: a guarded resource
			// replaced or deleted must be the table's word too.
			for _, tc := range ts {
				if tc.effect == effectGuardedReplace || tc.effect == effectGuardedDeletion {
					assert.Contains(t, []string{effectGuardedReplace, effectGuardedDeletion}, row.effect,
						"%s replaces or deletes %s (%s; %s), which the table does not say", key, tc.name, tc.why, guardedReplacementNote)
				}
			}
		})
	}
}

func sortedMarks(ts []touch) []string {
	m := marks(ts)
	slices.Sort(m)
	if len(m) == 0 {
		return nil
	}
	return m
}

// TestForceNewTableNamesSDKProperties checks every path of
// testdata/forcenew.json against the input type of the SDK the program
// builds with, so that a misspelt or renamed property cannot make the
// matrix blind to it.
func TestForceNewTableNamesSDKProperties(t *testing.T) {
	t.Parallel()
	args := map[string]interface{ ElementType() reflect.Type }{
		"scaleway:instance/server:Server":                  instance.ServerArgs{},
		"scaleway:block/volume:Volume":                     block.VolumeArgs{},
		"scaleway:network/privateNetwork:PrivateNetwork":   network.PrivateNetworkArgs{},
		"scaleway:ipam/ip:Ip":                              ipam.IpArgs{},
		"scaleway:kubernetes/cluster:Cluster":              kubernetes.ClusterArgs{},
		"scaleway:object/bucket:Bucket":                    object.BucketArgs{},
		"scaleway:kubernetes/pool:Pool":                    kubernetes.PoolArgs{},
		"scaleway:kubernetes/acl:Acl":                      kubernetes.AclArgs{},
		"scaleway:instance/privateNic:PrivateNic":          instance.PrivateNicArgs{},
		"scaleway:instance/securityGroup:SecurityGroup":    instance.SecurityGroupArgs{},
		"scaleway:network/vpc:Vpc":                         network.VpcArgs{},
		"scaleway:network/publicGateway:PublicGateway":     network.PublicGatewayArgs{},
		"scaleway:network/publicGatewayIp:PublicGatewayIp": network.PublicGatewayIpArgs{},
		"scaleway:network/gatewayNetwork:GatewayNetwork":   network.GatewayNetworkArgs{},
		"scaleway:iam/sshKey:SshKey":                       iam.SshKeyArgs{},
		"scaleway:iam/apiKey:ApiKey":                       iam.ApiKeyArgs{},
		"scaleway:iam/application:Application":             iam.ApplicationArgs{},
		"scaleway:iam/policy:Policy":                       iam.PolicyArgs{},
	}
	table := loadForceNew(t)
	assert.Equal(t, "a077ace3e0932a6b25d991ab0ab4efdfbe95806a", table.Source["commit"])
	for typ, spec := range table.Types {
		a, ok := args[typ]
		if !assert.True(t, ok, "%s: no SDK input type to check it against: add it above", typ) {
			continue
		}
		paths := slices.Clone(spec.ForceNew)
		for _, c := range spec.Conditional {
			paths = append(paths, c.Property)
			if c.Input != "" {
				paths = append(paths, c.Input)
			}
		}
		for _, p := range paths {
			assert.True(t, hasProperty(a.ElementType(), strings.Split(p, ".")), "%s has no input %q in pulumi-scaleway sdk v1.54.0", typ, p)
		}
	}
	guarded := []string{}
	for typ, spec := range table.Types {
		if spec.Guarded {
			guarded = append(guarded, typ)
		}
	}
	slices.Sort(guarded)
	// The types the guard in deploy/ refuses to replace (issue 13's list).
	assert.Equal(t, []string{
		"scaleway:block/volume:Volume", "scaleway:instance/server:Server", "scaleway:ipam/ip:Ip",
		"scaleway:kubernetes/cluster:Cluster", "scaleway:network/privateNetwork:PrivateNetwork", "scaleway:object/bucket:Bucket",
	}, guarded)
}

// hasProperty reports whether the struct type t (an SDK input's element
// type) has the property path, through pointers, slices and nested types.
func hasProperty(t reflect.Type, path []string) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if len(path) == 0 {
		return true
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		if f := t.Field(i); strings.Split(f.Tag.Get("pulumi"), ",")[0] == path[0] {
			return hasProperty(f.Type, path[1:])
		}
	}
	return false
}

// TestForceNewClassification holds touches to the table on a made-up pair of
// runs, negative controls included: a changed force-new input replaces, a
// changed other input does not, a conditional one only when its condition
// holds.
func TestForceNewClassification(t *testing.T) {
	t.Parallel()
	table := loadForceNew(t)
	server := func(image, typ string, size float64, replaceOnType bool) resource.PropertyMap {
		return resource.NewPropertyMapFromMap(map[string]any{
			"image": image, "type": typ, "replaceOnTypeChange": replaceOnType, "zone": "fr-par-1",
			"rootVolume": map[string]any{"sizeInGb": size, "volumeType": "sbs_volume"},
			"tags":       []any{"a"},
		})
	}
	const typ = "scaleway:instance/server:Server"
	base := server("ubuntu_noble", "PRO2-XS", 50, false)
	for _, tc := range []struct {
		name   string
		new    resource.PropertyMap
		forced []string
	}{
		{"same", server("ubuntu_noble", "PRO2-XS", 50, false), nil},
		{"image", server("ubuntu_jammy", "PRO2-XS", 50, false), []string{"image"}},
		{"type migrates", server("ubuntu_noble", "POP2-4C-16G", 50, false), nil},
		{"type with replaceOnTypeChange", server("ubuntu_noble", "POP2-4C-16G", 50, true), []string{"type"}},
		{"sbs root volume grows in place", server("ubuntu_noble", "PRO2-XS", 80, false), nil},
	} {
		assert.Equal(t, tc.forced, table.forcedBy(typ, base, tc.new), tc.name)
	}
	zoned := base.Copy()
	zoned["zone"] = resource.NewStringProperty("fr-par-2")
	assert.Equal(t, []string{"zone"}, table.forcedBy(typ, base, zoned))
	secretTags := base.Copy()
	secretTags["tags"] = resource.MakeSecret(resource.NewPropertyValue([]any{"b"}))
	assert.Empty(t, table.forcedBy(typ, base, secretTags), "tags are not force-new")

	vol := func(size float64) resource.PropertyMap {
		return resource.NewPropertyMapFromMap(map[string]any{"sizeInGb": size, "iops": 5000.0})
	}
	const volume = "scaleway:block/volume:Volume"
	assert.Empty(t, table.forcedBy(volume, vol(100), vol(200)), "a volume grows in place")
	assert.Equal(t, []string{"sizeInGb"}, table.forcedBy(volume, vol(200), vol(100)), "a volume cannot shrink")

	pn := func(subnet string) resource.PropertyMap {
		return resource.NewPropertyMapFromMap(map[string]any{"ipv4Subnet": map[string]any{"subnet": subnet}, "tags": []any{}})
	}
	assert.Equal(t, []string{"ipv4Subnet.subnet"}, table.forcedBy("scaleway:network/privateNetwork:PrivateNetwork", pn("10.0.0.0/24"), pn("10.1.0.0/24")))
	assert.Empty(t, table.forcedBy("scaleway:network/privateNetwork:PrivateNetwork", pn("10.0.0.0/24"), pn("10.0.0.0/24")))
}

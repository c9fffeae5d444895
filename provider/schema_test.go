package provider

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateSchema = flag.Bool("update", false, "rewrite testdata/schema.json from the provider's schema")

// schemaJSON is the provider's schema, indented as testdata/schema.json holds it.
func schemaJSON(t *testing.T) []byte {
	t.Helper()
	resp, err := newServer(t, Options{}).GetSchema(p.GetSchemaRequest{})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, []byte(resp.Schema), "", "  "))
	return append(buf.Bytes(), '\n')
}

// TestSchemaGolden keeps the schema (names, types, secrets, defaults,
// descriptions) as it is: a change must be deliberate (go test -run TestSchemaGolden -update).
func TestSchemaGolden(t *testing.T) {
	t.Parallel()
	got := schemaJSON(t)
	golden := filepath.Join("testdata", "schema.json")
	if *updateSchema {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "the schema changed: if on purpose, run go test -run TestSchemaGolden -update")
}

// TestSchemaInputs spells out each resource's inputs, so a review sees what
// a program may pass: "required" and "secret" flags, and the default if any.
func TestSchemaInputs(t *testing.T) {
	t.Parallel()
	// Inputs every resource takes, under the same names.
	access := map[string]string{
		"bastionHost":        "required",
		"bastionPort":        "required",
		"bastionUser":        `default "bastion"`,
		"privateKey":         "required secret",
		"hostKeyFingerprint": "",
		"targetHost":         "required",
		"targetPort":         "default 80",
		"scheme":             `default "http"`,
		"caCert":             "",
		"pollInterval":       `default "15s"`,
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range access {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	want := map[string]map[string]string{
		"gitlabwait:index:GitLabReady": with(map[string]string{
			"path":       `default "/-/readiness?all=1"`,
			"timeout":    `default "30m"`,
			"instanceId": "",
			"token":      "secret",
		}),
		"gitlabwait:index:AgentConnected": with(map[string]string{
			"timeout":     `default "15m"`,
			"token":       "required secret",
			"projectPath": "required",
			"agentName":   "required",
			"tokenId":     "", "gitlabInstanceId": "",
		}),
		"gitlabwait:index:PipelineSucceeded": with(map[string]string{
			"timeout":     `default "20m"`,
			"token":       "required secret",
			"projectPath": "required",
			"ref":         "required",
			"sha":         "",
		}),
		"gitlabwait:index:GitLabConfigured": with(map[string]string{
			"timeout":      `default "45m"`,
			"sshPort":      "default 22",
			"sshUser":      `default "root"`,
			"instanceId":   "required",
			"dataVolumeId": "required", "dataVolumeSizeGb": "",
			"package":             "required",
			"packageVersion":      "required",
			"gitlabRb":            "required",
			"rootPassword":        "required secret",
			"adminToken":          "required secret",
			"adminTokenExpiresAt": "required",
			"tlsCert":             "",
			"tlsKey":              "secret",
			"backup":              "",
		}),
	}

	var schema struct {
		Resources map[string]struct {
			InputProperties map[string]struct {
				Secret  bool `json:"secret"`
				Default any  `json:"default"`
			} `json:"inputProperties"`
			RequiredInputs []string `json:"requiredInputs"`
		} `json:"resources"`
	}
	require.NoError(t, json.Unmarshal(schemaJSON(t), &schema))
	require.Len(t, schema.Resources, len(want))
	for token, inputs := range want {
		res, ok := schema.Resources[token]
		require.True(t, ok, "the schema has %s", token)
		required := map[string]bool{}
		for _, k := range res.RequiredInputs {
			required[k] = true
		}
		got := map[string]string{}
		for name, prop := range res.InputProperties {
			var flags []string
			if required[name] {
				flags = append(flags, "required")
			}
			if prop.Secret {
				flags = append(flags, "secret")
			}
			if prop.Default != nil {
				d, err := json.Marshal(prop.Default)
				require.NoError(t, err)
				flags = append(flags, "default "+string(d))
			}
			got[name] = strings.Join(flags, " ")
		}
		assert.Equal(t, inputs, got, token)
	}
}

package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testcheck"
)

// noResources is a mock engine on which registering anything fails: Load
// must create nothing.
type noResources struct{}

func (noResources) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return "", nil, errors.New("config.Load registered " + args.TypeToken)
}

func (noResources) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, errors.New("config.Load called " + args.Token)
}

// loadWith runs Load under Pulumi's mock engine with opts setting the
// configuration, and returns what Load returned.
func loadWith(t *testing.T, stack string, opts ...pulumi.RunOption) (*Config, error) {
	t.Helper()
	var c *Config
	var loadErr error
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, loadErr = Load(ctx)
		return nil
	}, append([]pulumi.RunOption{pulumi.WithMocks("gitlab-kapsule", stack, noResources{})}, opts...)...)
	require.NoError(t, err)
	return c, loadErr
}

// loadFromEnv passes the configuration as the engine's Go language host
// does, in PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS, which RunErr reads
// (pulumi.EnvConfig, sdk/go/pulumi/run.go). It sets the environment, so its
// callers cannot run in parallel.
func loadFromEnv(t *testing.T, config map[string]string, secretKeys ...string) (*Config, error) {
	t.Helper()
	cfg, err := json.Marshal(config)
	require.NoError(t, err)
	keys, err := json.Marshal(secretKeys)
	require.NoError(t, err)
	t.Setenv(pulumi.EnvConfig, string(cfg))
	t.Setenv(pulumi.EnvConfigSecretKeys, string(keys))
	return loadWith(t, "dev")
}

// loadFromRunInfo passes the configuration in RunInfo, as the mock runs of
// this repository (internal/mockcloud) and Automation API inline programs do.
func loadFromRunInfo(t *testing.T, config map[string]string, secretKeys ...string) (*Config, error) {
	t.Helper()
	return loadWith(t, "dev", func(info *pulumi.RunInfo) {
		info.Config, info.ConfigSecretKeys = config, secretKeys
	})
}

func TestLoadRefusesKeysItWouldIgnore(t *testing.T) {
	// Not parallel: the configuration goes through the environment, as from
	// the engine.
	tests := []struct {
		key  string
		want []string // every fragment must appear; nil: the key is allowed
	}{
		{"network:cidrr", []string{"network:cidrr is not a key this program reads", "did you mean network:cidr?", "remove network:cidrr"}},
		{"kapsule:verison", []string{"kapsule:verison", "did you mean kapsule:version?"}},
		{"agent:nmae", []string{"agent:nmae", "did you mean agent:name?"}},
		{"gitops:intervall", []string{"gitops:intervall", "did you mean gitops:interval?"}},
		{"gitlabhost:version", []string{"gitlabhost:version", "did you mean gitlabHost:version?"}},
		{"Network:cidr", []string{"Network:cidr", "did you mean network:cidr?"}},
		{"netwrok:cidr", []string{"netwrok:cidr", "did you mean network:cidr?"}},
		{"network:nonsense", []string{"network:nonsense", "use one of network:allowedIpRanges, network:bastionPort, network:cidr, network:sshPublicKey"}},
		{"scaleway:regoin", []string{"scaleway:regoin", "did you mean scaleway:region?"}},
		{"scaleway:defaultZone", []string{"scaleway:defaultZone", "scaleway:accessKey", "scaleway:zone"}},
		{"gitlab-kapsule:cidr", []string{"gitlab-kapsule:cidr", "did you mean network:cidr?"}},
		{"gitlab-kapsule:whatever", []string{"gitlab-kapsule:whatever", `reads no key of the project's namespace "gitlab-kapsule"`}},
		// The Scaleway provider's own keys, and other namespaces.
		{"scaleway:accessKey", nil},
		{"scaleway:secretKey", nil},
		{"scaleway:projectId", nil},
		{"scaleway:organizationId", nil},
		{"scaleway:profile", nil},
		{"scaleway:apiUrl", nil},
		{"pulumi:tags", nil},
		{"gitlab:token", nil},
		{"kubernetes:context", nil},
		{"random:anything", nil},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := loadFromEnv(t, map[string]string{tt.key: "x", "network:cidr": "10.0.0.0/24"})
			testcheck.ErrorMentions(t, err, tt.want)
		})
	}

	t.Run("all at once", func(t *testing.T) {
		_, err := loadFromEnv(t, map[string]string{"network:cidrr": "x", "agent:nmae": "x", "kapsule:size": "two"})
		require.Error(t, err)
		for _, w := range []string{"network:cidrr", "agent:nmae", "kapsule:size must be a whole number"} {
			assert.Contains(t, err.Error(), w)
		}
	})
}

func TestLoadChecksKeysFromContext(t *testing.T) {
	t.Parallel()
	cfg := map[string]string{"network:cidrr": "10.1.0.0/24", "scaleway:region": "nl-ams", "scaleway:zone": "nl-ams-1"}
	var loadErr error
	require.NoError(t, pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, loadErr = Load(WithConfiguredKeys(ctx, []string{"network:cidrr", "scaleway:region", "scaleway:zone"}))
		return nil
	}, pulumi.WithMocks("gitlab-kapsule", "dev", noResources{}), func(info *pulumi.RunInfo) { info.Config = cfg }))
	require.Error(t, loadErr)
	assert.Contains(t, loadErr.Error(), "did you mean network:cidr?")
	assert.NotContains(t, loadErr.Error(), "scaleway:")
}

func TestLoadRefusesPlainRootPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret []string
		want   string // "": no error
	}{
		{"plain", nil, "gitlabHost:rootPassword is stored in plain text in the stack's configuration: encrypt it with `pulumi config set --secret gitlabHost:rootPassword`"},
		{"secret", []string{"gitlabHost:rootPassword"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadFromRunInfo(t, map[string]string{"gitlabHost:rootPassword": "correct horse battery"}, tt.secret...)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Equal(t, "correct horse battery", c.GitLab.RootPassword)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "correct horse", "the message does not repeat the password")
		})
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		config  map[string]string
		want    []string
		notWant []string
	}{
		{"type errors beside validation errors", map[string]string{
			"kapsule:size":          "two",
			"gitlabHost:tls":        "no",
			"network:bastionPort":   "22",
			"agent:namespaces":      "gitops-demo",
			"gitlabHost:diskSizeGb": "10",
		}, []string{
			"kapsule:size must be a whole number: write it in digits, e.g. 2",
			`gitlabHost:tls "no" must be true or false: write true or false`,
			"agent:namespaces must be a list of strings",
			"network:bastionPort 22 is not allowed",
			"gitlabHost:diskSizeGb 10",
		}, nil},
		{"an unreadable size skips the checks that would judge the default", map[string]string{
			"kapsule:size": "many",
			"network:cidr": "10.0.0.0/29",
		}, []string{"kapsule:size must be a whole number"}, []string{"too small"}},
		{"an unreadable list skips its checks", map[string]string{
			"agent:namespaces": `{"a": 1}`,
		}, []string{"agent:namespaces must be a list"}, []string{"gitops:enabled is true but agent:namespaces"}},
		{"an unreadable switch skips the group", map[string]string{
			"gitops:enabled":  "maybe",
			"gitops:interval": "soon",
		}, []string{`gitops:enabled "maybe" must be true or false`}, []string{"gitops:interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadFromRunInfo(t, tt.config)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, w := range tt.notWant {
				assert.NotContains(t, err.Error(), w)
			}
			assert.Equal(t, len(tt.want), strings.Count(err.Error(), "\n"), "one line per problem after the heading: %v", err)
		})
	}
}

func TestLoadDerivesGitLabAddress(t *testing.T) {
	t.Parallel()
	c, err := loadFromRunInfo(t, map[string]string{"network:cidr": "192.168.10.0/26"})
	require.NoError(t, err)
	assert.Equal(t, "192.168.10.10", c.GitLab.PrivateIP)
	c, err = loadFromRunInfo(t, map[string]string{"network:cidr": "10.0.0.0/28", "kapsule:size": "1"})
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.10", c.GitLab.PrivateIP)
	assert.Equal(t, "glk-dev", c.Prefix)
}

package offline

import (
	"bytes"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/config"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadOnly is a program that only loads the configuration.
func loadOnly(ctx *pulumi.Context) error {
	_, err := config.Load(ctx)
	return err
}

func TestPlanRefusesWhatUpRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file string
		want       []string // fragments of the error; nil: the plan succeeds
	}{
		{"yaml 1.2 no is not a boolean", "config:\n  gitlabHost:tls: no\n", []string{`gitlabHost:tls "no" must be true or false: write true or false`}},
		{"unknown key", "config:\n  network:cidrr: 10.1.0.0/24\n", []string{"did you mean network:cidr?"}},
		{"bare key", "config:\n  cidr: 10.1.0.0/24\n", []string{"gitlab-kapsule:cidr", "did you mean network:cidr?"}},
		{"plain root password", "config:\n  gitlabHost:rootPassword: correct-horse\n", []string{"pulumi config set --secret gitlabHost:rootPassword"}},
		{"misspelt config", "confg:\n  gitlabHost:tls: false\n", []string{`top-level key "confg"`}},
		{"encrypted root password is not read", "config:\n  gitlabHost:rootPassword:\n    secure: v1:abc\n  gitlabHost:tls: false\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := Plan(&out, writeStack(t, tt.file), "s", loadOnly)
			if tt.want == nil {
				require.NoError(t, err)
				assert.Contains(t, out.String(), "Encrypted keys not read offline (their defaults were used): gitlabHost:rootPassword")
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

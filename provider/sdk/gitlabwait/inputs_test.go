package gitlabwait_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gitlab-kapsule/gitlab-kapsule/provider"
	"github.com/gitlab-kapsule/gitlab-kapsule/provider/sdk/gitlabwait"
)

// TestInputsAreTheProvidersInputs: the SDK sends exactly the inputs the
// provider declares, under the same names.
func TestInputsAreTheProvidersInputs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ sdk, provider reflect.Type }{
		{reflect.TypeFor[gitlabwait.GitLabReadyArgs](), reflect.TypeFor[provider.GitLabReadyArgs]()},
		{reflect.TypeFor[gitlabwait.AgentConnectedArgs](), reflect.TypeFor[provider.AgentConnectedArgs]()},
	} {
		assert.ElementsMatch(t, propertyNames(tc.provider), propertyNames(tc.sdk), tc.sdk.Name())
	}
}

// propertyNames are the pulumi tags of t's fields, embedded ones included.
func propertyNames(t reflect.Type) []string {
	var names []string
	for _, f := range reflect.VisibleFields(t) {
		if name, _, _ := strings.Cut(f.Tag.Get("pulumi"), ","); name != "" {
			names = append(names, name)
		}
	}
	return names
}

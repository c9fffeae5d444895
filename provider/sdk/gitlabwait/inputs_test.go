package gitlabwait_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
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
		{reflect.TypeFor[gitlabwait.PipelineSucceededArgs](), reflect.TypeFor[provider.PipelineSucceededArgs]()},
	} {
		assert.ElementsMatch(t, propertyNames(tc.provider), propertyNames(tc.sdk), tc.sdk.Name())
	}
}

// TestOutputsAreTheProvidersOutputs: the SDK's resources read exactly the
// outputs the provider's states declare beyond their inputs.
func TestOutputsAreTheProvidersOutputs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ sdk, state, args reflect.Type }{
		{reflect.TypeFor[gitlabwait.GitLabReady](), reflect.TypeFor[provider.GitLabReadyState](), reflect.TypeFor[provider.GitLabReadyArgs]()},
		{reflect.TypeFor[gitlabwait.AgentConnected](), reflect.TypeFor[provider.AgentConnectedState](), reflect.TypeFor[provider.AgentConnectedArgs]()},
		{reflect.TypeFor[gitlabwait.PipelineSucceeded](), reflect.TypeFor[provider.PipelineSucceededState](), reflect.TypeFor[provider.PipelineSucceededArgs]()},
	} {
		inputs := map[string]bool{}
		for _, name := range propertyNames(tc.args) {
			inputs[name] = true
		}
		var outputs []string
		for _, name := range propertyNames(tc.state) {
			if !inputs[name] {
				outputs = append(outputs, name)
			}
		}
		assert.ElementsMatch(t, outputs, outputNames(tc.sdk), tc.sdk.Name())
	}
}

// outputNames are the pulumi tags of a resource's fields, but for those of
// the embedded pulumi.CustomResourceState (urn, id).
func outputNames(t reflect.Type) []string {
	var names []string
	for _, f := range reflect.VisibleFields(t) {
		if t.Field(f.Index[0]).Type == reflect.TypeFor[pulumi.CustomResourceState]() {
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("pulumi"), ","); name != "" {
			names = append(names, name)
		}
	}
	return names
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

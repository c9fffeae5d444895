package mockcloud

import (
	"encoding/json"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Project is the Pulumi project name the mocks run under.
const Project = "gitlab-kapsule"

// Run runs program under the mock engine with the given stack configuration
// ("namespace:key" to value; lists as JSON) and returns what it registered.
func Run(stack string, config map[string]string, secretKeys []string, program pulumi.RunFunc) (*Cloud, error) {
	cloud := &Cloud{Project: Project, Stack: stack}
	err := pulumi.RunErr(program,
		pulumi.WithMocks(Project, stack, cloud),
		func(info *pulumi.RunInfo) {
			info.Config = config
			info.ConfigSecretKeys = secretKeys
		})
	return cloud, err
}

// List encodes a list config value the way Pulumi stores it.
func List(items ...string) string {
	b, _ := json.Marshal(items)
	return string(b)
}

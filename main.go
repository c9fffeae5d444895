// Command gitlab-kapsule is the Pulumi program: `pulumi up` in this folder
// runs stack.Deploy, which the Automation API also runs inline.
package main

import (
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(stack.Deploy)
}

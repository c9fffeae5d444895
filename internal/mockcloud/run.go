package mockcloud

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Project is the Pulumi project name the mocks run under.
const Project = "gitlab-kapsule"

// Run runs program under the mock engine with the given stack configuration
// ("namespace:key" to value; lists as JSON) and returns what it registered.
func Run(stack string, config map[string]string, secretKeys []string, program pulumi.RunFunc) (*Cloud, error) {
	cloud, _, err := RunLogged(stack, config, secretKeys, program)
	return cloud, err
}

// RunLogged is Run that also returns the warnings the program logged with
// ctx.Log.Warn, in order, which `up` prints: the SDK's mock engine drops
// every log message, and has no option to keep them, so the program's
// context gets a Log that records warnings before passing them on.
func RunLogged(stack string, config map[string]string, secretKeys []string, program pulumi.RunFunc) (*Cloud, []string, error) {
	cloud := &Cloud{Project: Project, Stack: stack}
	log := &warningLog{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		// Contexts derived with ctx.WithValue copy this Log.
		log.Log, ctx.Log = ctx.Log, log
		return program(ctx)
	},
		pulumi.WithMocks(Project, stack, cloud),
		func(info *pulumi.RunInfo) {
			info.Config = config
			info.ConfigSecretKeys = secretKeys
		})
	log.mu.Lock()
	defer log.mu.Unlock()
	return cloud, slices.Clone(log.warnings), err
}

// warningLog is a pulumi.Log that records warnings and passes every
// message on to the engine's.
type warningLog struct {
	pulumi.Log

	mu       sync.Mutex
	warnings []string
}

// Warn records msg and logs it.
func (l *warningLog) Warn(msg string, args *pulumi.LogArgs) error {
	l.mu.Lock()
	l.warnings = append(l.warnings, msg)
	l.mu.Unlock()
	return l.Log.Warn(msg, args)
}

// List encodes a list config value the way Pulumi stores it.
func List(items ...string) string {
	b, _ := json.Marshal(items)
	return string(b)
}

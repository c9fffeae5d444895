package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// AllowReplaceFlag is the command's flag that confirms the replacement of a
// guarded resource; Options.AllowReplace is the same for an embedder.
const AllowReplaceFlag = "--allow-replace"

// ErrReplaceRefused: Up refused to run because its preview replaces or
// deletes a guarded resource (a *ReplaceError says which).
var ErrReplaceRefused = errors.New("refused: the update would replace or delete resources that hold data or everything else")

// GuardedKind says what a guarded resource is to the deployment.
type GuardedKind string

// The guarded resources, by what they are.
const (
	GuardedServer  GuardedKind = "server"  // the GitLab host's server
	GuardedVolume  GuardedKind = "volume"  // GitLab's data volume
	GuardedNetwork GuardedKind = "network" // the private network
	GuardedAddress GuardedKind = "address" // GitLab's reserved private address
	GuardedCluster GuardedKind = "cluster" // a Kapsule cluster
	GuardedBucket  GuardedKind = "bucket"  // the backup bucket
)

// guarded is what a guarded type is and what replacing it costs.
type guarded struct {
	kind GuardedKind
	cost string
}

// guardedTypes are the resource types whose replacement or deletion Up
// refuses without Options.AllowReplace, with what it costs. The tokens are
// those of the pulumiverse Scaleway SDK v1.54.0 the program uses (the
// RegisterResource calls of sdk/go/scaleway/instance/server.go,
// block/volume.go, network/privateNetwork.go, ipam/ip.go,
// kubernetes/cluster.go and object/bucket.go), and the deprecated index/
// aliases of the same resources (instanceServer.go, blockVolume.go, ...),
// which an old state may still carry.
var guardedTypes = map[string]guarded{
	"scaleway:instance/server:Server":                    {GuardedServer, serverCost},
	"scaleway:index/instanceServer:InstanceServer":       {GuardedServer, serverCost},
	"scaleway:block/volume:Volume":                       {GuardedVolume, volumeCost},
	"scaleway:index/blockVolume:BlockVolume":             {GuardedVolume, volumeCost},
	"scaleway:network/privateNetwork:PrivateNetwork":     {GuardedNetwork, networkCost},
	"scaleway:index/vpcPrivateNetwork:VpcPrivateNetwork": {GuardedNetwork, networkCost},
	"scaleway:ipam/ip:Ip":                                {GuardedAddress, ipCost},
	"scaleway:index/ipamIp:IpamIp":                       {GuardedAddress, ipCost},
	"scaleway:kubernetes/cluster:Cluster":                {GuardedCluster, clusterCost},
	"scaleway:index/kubernetesCluster:KubernetesCluster": {GuardedCluster, clusterCost},
	"scaleway:object/bucket:Bucket":                      {GuardedBucket, bucketCost},
	"scaleway:index/objectBucket:ObjectBucket":           {GuardedBucket, bucketCost},
}

// What replacing each guarded resource costs, for the refusal.
const (
	serverCost = "the GitLab host is rebuilt: GitLab is down until the new host has installed and configured it, " +
		"then comes back on its data volume (repositories, users, tokens) if that volume is kept"
	volumeCost = "GitLab's data volume is recreated empty: every repository, user and token is lost " +
		"unless you restore a backup (`restore`) onto the new host"
	networkCost = "the private network is recreated: the GitLab host, the gateway's attachment and every " +
		"cluster and node on it are rebuilt or cut off, which is everything"
	ipCost = "GitLab's reserved private address changes: the host, its certificate and everything " +
		"that reaches GitLab by address (the agents, the runners) move to the new one"
	clusterCost = "the Kapsule cluster is recreated: every workload, volume and load balancer in it is lost " +
		"and has to be deployed again"
	bucketCost = "the backup bucket is recreated empty: every backup in it is lost"
)

// replacingOps are the engine's step operations that replace or remove a
// resource (sdk/go/common/apitype/history.go, OpType, v3.274.1).
var replacingOps = map[apitype.OpType]bool{
	apitype.OpReplace:           true,
	apitype.OpCreateReplacement: true,
	apitype.OpDeleteReplaced:    true,
	apitype.OpDelete:            true,
}

// Replacement is one guarded resource that an update would replace or delete.
type Replacement struct {
	// URN is the resource's URN.
	URN string
	// Type is its type token, e.g. "scaleway:instance/server:Server".
	Type string
	// Name is its logical name in the program.
	Name string
	// Kind says what it is: the GitLab server, its data volume, ...
	Kind GuardedKind
	// Delete is true when the update deletes it without a replacement.
	Delete bool
	// Retained is true when deleting it leaves the cloud resource (RetainOnDelete).
	Retained bool
	// Keys are the inputs that force the replacement, as the provider's
	// diff names them; empty when the engine gave none (a replacement asked
	// for with --replace or a replacement trigger).
	Keys []string
	// Cost says what replacing it costs.
	Cost string
}

// ReplaceError is Up's refusal: the guarded resources its preview
// replaces or deletes. errors.Is(err, ErrReplaceRefused) matches it.
type ReplaceError struct {
	Stack        string
	Replacements []Replacement
}

// Error names each resource, what forces it and what it costs, and the
// confirmation.
func (e *ReplaceError) Error() string {
	return fmt.Sprintf("up of stack %q: %v:%s", e.Stack, ErrReplaceRefused, describeReplacements(e.Replacements))
}

// describeReplacements names each replacement on a line of its own, with
// what forces it and what it costs, then how to confirm.
func describeReplacements(rs []Replacement) string {
	var b strings.Builder
	for _, r := range rs {
		verb := "replaced"
		if r.Delete {
			verb = "deleted"
			if r.Retained {
				verb = "deleted from the stack (retained in Scaleway, no longer managed)"
			}
		}
		fmt.Fprintf(&b, "\n  %s %q (%s) would be %s", r.Type, r.Name, r.URN, verb)
		if len(r.Keys) > 0 {
			fmt.Fprintf(&b, ", forced by a change of %s", strings.Join(r.Keys, ", "))
		}
		fmt.Fprintf(&b, ": %s", r.Cost)
	}
	fmt.Fprintf(&b, "\n  run preview to see the diff; if this is what you want, run up again with %s, which backs the GitLab host up first "+
		"when the server or its data volume goes and the stack has a backup bucket (`backup` does it by hand; Options.AllowReplace and "+
		"Options.BeforeReplace for the deploy package)", AllowReplaceFlag)
	return b.String()
}

// PreviewWarning is what Preview prints after a preview that replaces or
// deletes guarded resources: what up will refuse.
func PreviewWarning(rs []Replacement) string {
	return "warning: up refuses this update unless confirmed:" + describeReplacements(rs)
}

// Is makes errors.Is(err, ErrReplaceRefused) true.
func (e *ReplaceError) Is(target error) bool { return target == ErrReplaceRefused }

// BeforeReplaceError is Up's stop when Options.BeforeReplace failed: the
// replacements it was given, and its error (Unwrap). Nothing was changed.
type BeforeReplaceError struct {
	Stack        string
	Replacements []Replacement
	Err          error
}

// Error names what was not replaced and why.
func (e *BeforeReplaceError) Error() string {
	names := make([]string, len(e.Replacements))
	for i, r := range e.Replacements {
		names[i] = fmt.Sprintf("%s %q", r.Type, r.Name)
	}
	return fmt.Sprintf("up of stack %q stopped before replacing or deleting %s, and changed nothing: %v",
		e.Stack, strings.Join(names, ", "), e.Err)
}

// Unwrap is BeforeReplace's error.
func (e *BeforeReplaceError) Unwrap() error { return e.Err }

// GuardedReplacements returns the guarded resources that the steps of a
// preview or an update (its engine events) replace or delete, one per
// resource in the order first seen. It is what Up judges before it runs.
func GuardedReplacements(evs []events.EngineEvent) []Replacement {
	var out []Replacement
	index := map[string]int{}
	for _, e := range evs {
		if e.ResourcePreEvent == nil {
			continue
		}
		m := e.ResourcePreEvent.Metadata
		if !replacingOps[m.Op] {
			continue
		}
		typ := m.Type
		g, isGuarded := guardedTypes[typ]
		if !isGuarded {
			continue
		}
		i, seen := index[m.URN]
		if !seen {
			i = len(out)
			index[m.URN] = i
			out = append(out, Replacement{URN: m.URN, Type: typ, Name: urnName(m.URN), Kind: g.kind, Cost: g.cost, Delete: true})
		}
		r := &out[i]
		if m.Op != apitype.OpDelete {
			r.Delete = false
		}
		if m.Old != nil && m.Old.RetainOnDelete {
			r.Retained = true
		}
		for _, k := range replaceKeys(m) {
			if !slices.Contains(r.Keys, k) {
				r.Keys = append(r.Keys, k)
			}
		}
	}
	for i := range out {
		sort.Strings(out[i].Keys)
		if !out[i].Delete {
			out[i].Retained = false
		}
	}
	return out
}

// replaceKeys are the inputs that force a step's replacement: the engine's
// Keys ("keys causing a replacement"), else the properties its detailed
// diff marks as a replacing kind.
func replaceKeys(m apitype.StepEventMetadata) []string {
	if len(m.Keys) > 0 {
		return m.Keys
	}
	var keys []string
	for k, d := range m.DetailedDiff {
		switch d.Kind {
		case apitype.DiffAddReplace, apitype.DiffDeleteReplace, apitype.DiffUpdateReplace:
			keys = append(keys, k)
		}
	}
	return keys
}

// urnName is the logical name at the end of a URN.
func urnName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// previewOptions are the preview options that make the guard's preview
// plan what an up with opts would do: its targets, exclusions, forced
// replacements, refresh, parallelism, policy packs and program settings;
// not its streams, which the guard sets itself.
func previewOptions(opts []optup.Option) []optpreview.Option {
	var u optup.Options
	for _, o := range opts {
		o.ApplyOption(&u)
	}
	return []optpreview.Option{previewOption(func(p *optpreview.Options) {
		p.Parallel = u.Parallel
		p.Message = u.Message
		p.ExpectNoChanges = u.ExpectNoChanges
		p.Replace = u.Replace
		p.Target = u.Target
		p.TargetDependents = u.TargetDependents
		p.Exclude = u.Exclude
		p.ExcludeDependents = u.ExcludeDependents
		p.DebugLogOpts = u.DebugLogOpts
		p.UserAgent = u.UserAgent
		p.PolicyPacks = u.PolicyPacks
		p.PolicyPackConfigs = u.PolicyPackConfigs
		p.Refresh = u.Refresh
		p.ConfigFile = u.ConfigFile
		p.RunProgram = u.RunProgram
	})}
}

// previewOption is an optpreview.Option from a function.
type previewOption func(*optpreview.Options)

func (f previewOption) ApplyOption(o *optpreview.Options) { f(o) }

// collector gathers the events of one operation from a channel of its
// own, which the SDK closes once the CLI's event stream has ended.
type collector struct {
	ch         chan events.EngineEvent
	done, stop chan struct{}
	once       sync.Once
	mu         sync.Mutex
	evs        []events.EngineEvent
}

func newCollector() *collector {
	c := &collector{ch: make(chan events.EngineEvent), done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case e, ok := <-c.ch:
				if !ok {
					return
				}
				c.mu.Lock()
				c.evs = append(c.evs, e)
				c.mu.Unlock()
			case <-c.stop:
				return
			}
		}
	}()
	return c
}

// events waits, at most eventDrainTimeout (a CLI that failed before
// streaming never opens the channel), for the stream to end and returns
// what came. Call it once the operation has returned.
func (c *collector) events() []events.EngineEvent {
	select {
	case <-c.done:
	case <-time.After(eventDrainTimeout):
		c.once.Do(func() { close(c.stop) })
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.evs)
}

// guards tells whether Up previews first: to refuse a replacement, or,
// when replacements are allowed, to call BeforeReplace with them.
func (o Options) guards() bool { return !o.AllowReplace || o.BeforeReplace != nil }

// guard previews what Up with opts would do, quietly, and judges the
// guarded resources it replaces or deletes (judge). A preview that fails is
// Up's failure: the update would fail the same way.
func (s *Stack) guard(ctx context.Context, opts []optup.Option) error {
	if !s.opts.guards() {
		return nil
	}
	c := newCollector()
	_, err := s.stack.Preview(ctx, append(previewOptions(opts), optpreview.EventStreams(c.ch))...)
	evs := c.events()
	if err != nil {
		return classify(ctx, "up", s.opts.StackName, s.backend, err)
	}
	return judge(ctx, s.opts, GuardedReplacements(evs))
}

// judge is Up's decision on rs, the guarded resources its preview replaces
// or deletes: none goes on; without AllowReplace it refuses with a
// *ReplaceError; with it, BeforeReplace (when set) runs first, and its
// error stops the up with a *BeforeReplaceError, or an ErrCancelled *Error
// when ctx ended.
func judge(ctx context.Context, opts Options, rs []Replacement) error {
	switch {
	case len(rs) == 0:
		return nil
	case !opts.AllowReplace:
		return &ReplaceError{Stack: opts.StackName, Replacements: rs}
	case opts.BeforeReplace == nil:
		return nil
	}
	err := opts.BeforeReplace(ctx, slices.Clone(rs))
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &Error{Op: "up", Stack: opts.StackName, Kind: ErrCancelled, Err: err, cause: context.Cause(ctx),
			Hint: "stopped before replacing anything: nothing was changed"}
	}
	return &BeforeReplaceError{Stack: opts.StackName, Replacements: rs, Err: err}
}

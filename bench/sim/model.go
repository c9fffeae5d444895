package sim

import (
	"fmt"
	"strings"
	"time"
)

// Latencies is how long creating each resource takes.
type Latencies struct {
	// ByType maps a type token, or a wildcard such as "kubernetes:*" (a
	// prefix then "*"), to a latency; the exact token, then the longest
	// wildcard, wins.
	ByType map[string]time.Duration
	// ByName overrides ByType for one resource, by logical name.
	ByName map[string]time.Duration
}

// Of returns r's latency. Components take none: they are bookkeeping in the
// engine. A custom type with no entry is an error, so a new resource type
// cannot be simulated as instant by accident.
func (l Latencies) Of(r Resource) (time.Duration, error) {
	if d, ok := l.ByName[r.Name]; ok {
		return d, nil
	}
	if !r.Custom {
		return 0, nil
	}
	if d, ok := matchType(l.ByType, r.Type); ok {
		return d, nil
	}
	return 0, fmt.Errorf("sim: no latency for %s (%s): add it to the latency table", r.Type, r.Name)
}

// matchType looks typ up as an exact key, then as the longest "prefix*" key.
func matchType[V any](table map[string]V, typ string) (V, bool) {
	if v, ok := table[typ]; ok {
		return v, true
	}
	var best V
	bestLen := -1
	for k, v := range table {
		prefix, wild := strings.CutSuffix(k, "*")
		if wild && strings.HasPrefix(typ, prefix) && len(prefix) > bestLen {
			best, bestLen = v, len(prefix)
		}
	}
	return best, bestLen >= 0
}

// Requirement is one real ordering constraint: a resource of Type cannot be
// created before a resource of type Needs exists. The ideal deployment
// respects exactly these and nothing else.
type Requirement struct {
	// Type is the dependent's type token, or a wildcard "prefix*". An exact
	// row makes the type audited: its waits are then required only when a
	// row says so. A wildcard row adds requirements without auditing.
	Type string
	// Needs is the predecessor's type token; empty declares that Type needs
	// nothing more (a root, or nothing beyond its wildcard rows).
	Needs string
	// Must marks a requirement the program breaks when the dependent does
	// not wait for any resource of type Needs although one exists.
	Must bool
	// Why is the reason, with its source.
	Why string
}

// Model is what a simulation assumes.
type Model struct {
	// Latencies gives each resource its create time.
	Latencies Latencies
	// Requirements define the ideal: see Requirement.
	Requirements []Requirement
	// Parallel is the engine's limit on operations in flight for the second
	// makespan; 0 leaves only the unlimited one.
	Parallel int
}

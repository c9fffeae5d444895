package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// clusters reads kapsule:clusters, a list of objects (README "Several
// clusters"), into dst; fields left out take the defaults. Every field that
// does not read is reported, naming its path, and marked unread so that its
// checks are skipped.
func (r *reader) clusters(dst *[]Cluster) {
	const ns, key = "kapsule", "clusters"
	raw, ok := r.get(ns, key)
	if !ok || strings.TrimSpace(raw) == "" {
		return
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &items); err != nil || items == nil {
		r.fail(ns, key, fmt.Errorf("%s must be a list of clusters, each an object with at least a name: set it with `pulumi config set --path '%s[0].name' staging` (README \"Several clusters\")", ClustersKey, ClustersKey))
		return
	}
	d := Defaults()
	out := make([]Cluster, 0, len(items))
	for i, item := range items {
		cl := Cluster{
			Version: d.Kapsule.Version, CNI: d.Kapsule.CNI, Namespaces: slices.Clone(d.Agent.Namespaces),
			GitOps: d.GitOps.Enabled, index: i,
		}
		path := fmt.Sprintf("%s[%d]", ClustersKey, i)
		var agent, pools json.RawMessage
		r.object(path, item, fields{
			"name":            fieldStr(&cl.Name),
			"version":         fieldStr(&cl.Version),
			"cni":             fieldStr(&cl.CNI),
			"apiAllowedCidrs": fieldStrs(&cl.APIAllowedCIDRs),
			"agent":           fieldRaw(&agent),
			"gitops":          fieldBool(&cl.GitOps),
			"pools":           fieldRaw(&pools),
		})
		if agent != nil {
			r.object(path+".agent", agent, fields{
				"name":         fieldStr(&cl.AgentName),
				"namespaces":   fieldStrs(&cl.Namespaces),
				"clusterAdmin": fieldBool(&cl.ClusterAdmin),
			})
		}
		cl.agentNamed = cl.AgentName != ""
		if !cl.agentNamed {
			cl.AgentName = cl.Name
		}
		cl.Pools = r.pools(path+".pools", pools, d.Kapsule)
		out = append(out, cl)
	}
	*dst = out
}

// pools reads a cluster's pools; left out, the cluster has one pool of the
// default node type and size.
func (r *reader) pools(path string, raw json.RawMessage, d Kapsule) []Pool {
	fresh := func() Pool { return Pool{NodeType: d.NodeType, Size: d.Size, Autohealing: true} }
	if raw == nil {
		p := fresh()
		p.Name = DefaultPoolName
		return []Pool{p}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		r.failPath(path, fmt.Errorf("%s must be a list of pools, each an object with a name: e.g. [{\"name\": \"pool\", \"nodeType\": %q, \"size\": %d}]", path, d.NodeType, d.Size))
		return nil
	}
	var pools []Pool
	for i, item := range items {
		p := fresh()
		ppath := fmt.Sprintf("%s[%d]", path, i)
		var autoscaling json.RawMessage
		set := r.object(ppath, item, fields{
			"name":             fieldStr(&p.Name),
			"nodeType":         fieldStr(&p.NodeType),
			"size":             fieldInt(&p.Size),
			"autoscaling":      fieldRaw(&autoscaling),
			"autohealing":      fieldBool(&p.Autohealing),
			"rootVolumeSizeGb": fieldInt(&p.RootVolumeSizeGB),
			"zone":             fieldStr(&p.Zone),
			"tags":             fieldStrs(&p.Tags),
		})
		if autoscaling != nil {
			p.Autoscaling = true
			r.object(ppath+".autoscaling", autoscaling, fields{"min": fieldInt(&p.MinSize), "max": fieldInt(&p.MaxSize)})
			if !set["size"] {
				// The pool starts at its minimum; the autoscaler takes it from there.
				p.Size = max(p.MinSize, 1)
			}
		}
		pools = append(pools, p)
	}
	return pools
}

// field reads one JSON value into its destination, or says what it should be.
type field func(raw json.RawMessage) (want string, ok bool)

type fields map[string]field

// object reads a JSON object at path into fields, reporting at once every
// field it does not know (with the nearest known name) and every value that
// does not read. It returns the fields the object sets.
func (r *reader) object(path string, raw json.RawMessage, fs fields) map[string]bool {
	set := map[string]bool{}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		r.failPath(path, fmt.Errorf("%s must be an object: write it as {\"name\": ...} (README \"Several clusters\")", path))
		return set
	}
	known := sortedKeys(fs)
	for _, name := range sortedKeys(m) {
		f, ok := fs[name]
		if !ok {
			fix := "use one of " + strings.Join(known, ", ")
			if near := nearest(name, known, max(2, len(name)/3)); near != "" {
				fix = "did you mean " + near + "?"
			}
			r.failPath(path+"."+name, fmt.Errorf("%s.%s is not a field this program reads, so its value would be ignored: %s", path, name, fix))
			continue
		}
		if want, ok := f(m[name]); !ok {
			r.failPath(path+"."+name, fmt.Errorf("%s.%s must be %s", path, name, want))
			continue
		}
		set[name] = true
	}
	return set
}

// failPath records an unreadable field of kapsule:clusters.
func (r *reader) failPath(path string, err error) {
	r.unread[path] = true
	r.errs = append(r.errs, err)
}

func fieldStr(dst *string) field {
	return func(raw json.RawMessage) (string, bool) {
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return "a string", false
		}
		*dst = strings.TrimSpace(v)
		return "", true
	}
}

func fieldStrs(dst *[]string) field {
	return func(raw json.RawMessage) (string, bool) {
		var v []string
		if json.Unmarshal(raw, &v) != nil {
			return "a list of strings, e.g. [\"a\", \"b\"]", false
		}
		*dst = v
		return "", true
	}
}

// integer takes a JSON number or a string of digits: `pulumi config set
// --path` stores numbers as numbers, people write either.
func fieldInt(dst *int) field {
	return func(raw json.RawMessage) (string, bool) {
		var n int
		if json.Unmarshal(raw, &n) == nil {
			*dst = n
			return "", true
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				*dst = n
				return "", true
			}
		}
		return "a whole number, written in digits", false
	}
}

// boolean takes true or false, as JSON or as a string.
func fieldBool(dst *bool) field {
	return func(raw json.RawMessage) (string, bool) {
		var b bool
		if json.Unmarshal(raw, &b) == nil {
			*dst = b
			return "", true
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && (s == "true" || s == "false") {
			*dst = s == "true"
			return "", true
		}
		return "true or false", false
	}
}

func fieldRaw(dst *json.RawMessage) field {
	return func(raw json.RawMessage) (string, bool) {
		*dst = raw
		return "", true
	}
}

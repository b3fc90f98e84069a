// Package interpolate replaces the runtime variables a job may write in a
// task's fields, ${NOMAD_PORT_http} or ${node.unique.name}, with their
// values on the client that runs the task. It is pure: it reads the maps
// it is given and returns new values.
//
// A reference is ${name}, where name is made of letters, digits, '_', '-'
// and '.', or ${env["NAME"]}. A name is looked up first in the task's
// environment (NOMAD_*, DROVER_* and the task's env block), then among the
// node's variables: node.unique.id, node.unique.name, node.datacenter,
// node.class, node.region, node.pool, attr.<attribute> and meta.<key>.
// env["NAME"] reads the task's environment only. A reference to anything
// unknown is left as written, as Nomad leaves it, so that a shell or the
// program itself may still read it.
package interpolate

import (
	"strings"

	"github.com/droverhq/drover/structs"
)

// maxDepth bounds how deep Value follows nested lists and maps.
const maxDepth = 64

// Vars are the values references resolve to.
type Vars struct {
	// Env is the task's environment.
	Env map[string]string
	// Node are the node's variables, keyed as jobs name them
	// ("node.unique.id", "attr.kernel.name", "meta.rack").
	Node map[string]string
}

// NodeVars returns a node's variables as jobs name them. region is the
// client's region, used when the node record carries none.
func NodeVars(n *structs.Node, region string) map[string]string {
	m := make(map[string]string, len(n.GetAttributes())+len(n.GetMeta())+6)
	for k, v := range n.GetAttributes() {
		m["attr."+k] = v
	}
	for k, v := range n.GetMeta() {
		m["meta."+k] = v
	}
	for k, v := range n.GetDynamicMeta() {
		m["meta."+k] = v
	}
	if r := n.GetRegion(); r != "" {
		region = r
	}
	m["node.unique.id"] = n.GetId()
	m["node.unique.name"] = n.GetName()
	m["node.datacenter"] = n.GetDatacenter()
	m["node.class"] = n.GetNodeClass()
	m["node.region"] = region
	m["node.pool"] = "default"
	return m
}

// lookup resolves the inside of one ${...}.
func (v Vars) lookup(ref string) (string, bool) {
	if name, ok := envIndex(ref); ok {
		val, found := v.Env[name]
		return val, found
	}
	if !isName(ref) {
		return "", false
	}
	if val, ok := v.Env[ref]; ok {
		return val, true
	}
	val, ok := v.Node[ref]
	return val, ok
}

// envIndex reads env["NAME"] (or env['NAME']).
func envIndex(ref string) (string, bool) {
	rest, ok := strings.CutPrefix(ref, "env[")
	if !ok || len(rest) < 3 || rest[len(rest)-1] != ']' {
		return "", false
	}
	q := rest[0]
	inner := rest[:len(rest)-1]
	if (q != '"' && q != '\'') || len(inner) < 2 || inner[len(inner)-1] != q {
		return "", false
	}
	name := inner[1 : len(inner)-1]
	if name == "" || strings.IndexByte(name, q) >= 0 {
		return "", false
	}
	return name, true
}

// isName reports whether s is a plain reference: letters, digits, '_',
// '-' and '.'.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// String replaces every known reference in s. The result is built in one
// linear pass: a value that itself holds ${...} is not interpolated again.
func (v Vars) String(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		// The first "}" closes the last "${" before it: earlier ones hold
		// a "${" and so are no reference.
		e := strings.IndexByte(s, '}')
		if e < 0 {
			break
		}
		k := strings.LastIndex(s[:e], "${")
		if k < 0 {
			b.WriteString(s[:e+1])
		} else if val, ok := v.lookup(s[k+2 : e]); ok {
			b.WriteString(s[:k])
			b.WriteString(val)
		} else {
			b.WriteString(s[:e+1])
		}
		s = s[e+1:]
	}
	b.WriteString(s)
	return b.String()
}

// Strings interpolates each string of in into a new slice.
func (v Vars) Strings(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = v.String(s)
	}
	return out
}

// Map interpolates the keys and values of in into a new map.
func (v Vars) Map(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, s := range in {
		out[v.String(k)] = v.String(s)
	}
	return out
}

// Value interpolates every string found in a decoded config (strings,
// []any, map[string]any, nested up to a bounded depth) into a new value;
// other values are returned as they are. Map keys are kept as written.
func (v Vars) Value(in any) any { return v.value(in, 0) }

func (v Vars) value(in any, depth int) any {
	if depth > maxDepth {
		return in
	}
	switch x := in.(type) {
	case string:
		return v.String(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = v.value(e, depth+1)
		}
		return out
	case []string:
		return v.Strings(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = v.value(e, depth+1)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, s := range x {
			out[k] = v.String(s)
		}
		return out
	}
	return in
}

// Config interpolates a task's driver config.
func (v Vars) Config(in map[string]any) map[string]any {
	if in == nil {
		return nil
	}
	return v.value(in, 0).(map[string]any)
}

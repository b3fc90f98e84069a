package acl

import (
	"sort"
	"strings"
)

// isGlob reports whether a rule's name is a pattern rather than an exact
// name. The only wildcard is '*', which matches any run of characters,
// including none.
func isGlob(name string) bool { return strings.IndexByte(name, '*') >= 0 }

// globMatch reports whether name matches pattern, where each '*' in pattern
// matches any run of characters (including none) and every other byte
// matches itself.
//
// It works on bytes, keeps no state beyond two back-up positions and runs in
// O(len(pattern)·len(name)) at worst, so a crafted pattern cannot make it
// backtrack without bound.
func globMatch(pattern, name string) bool {
	p, n := 0, 0
	// star is the pattern position just after the last '*' seen, and
	// starName the name position that '*' is currently taken to end at.
	star, starName := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, starName = p+1, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			// Let the last '*' swallow one more byte and retry.
			starName++
			p, n = star, starName
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// globDistance is how far pattern is from name when pattern matches name:
// the number of name's bytes that pattern's wildcards stand for, which is
// name's length less the pattern's literal bytes. The closest matching
// pattern has the smallest distance; this is the ranking Nomad uses.
func globDistance(pattern, name string) int {
	return len(name) - (len(pattern) - strings.Count(pattern, "*"))
}

// ruleTable holds the merged capability sets of one kind of named rule
// (namespaces, node pools, host volumes): exact names in a map, patterns in a
// slice sorted by pattern so that lookups never depend on policy order.
type ruleTable struct {
	exact map[string]capSet
	globs []globRule
}

type globRule struct {
	pattern string
	caps    capSet
}

// ruleTableBuilder accumulates rules, merging those with the same name.
type ruleTableBuilder struct {
	exact map[string]capSet
	globs map[string]capSet
}

func (b *ruleTableBuilder) add(name string, caps capSet) {
	m := &b.exact
	if isGlob(name) {
		m = &b.globs
	}
	if *m == nil {
		*m = make(map[string]capSet)
	}
	if old, ok := (*m)[name]; ok {
		caps = old.merge(caps)
	}
	(*m)[name] = caps
}

func (b *ruleTableBuilder) build() ruleTable {
	t := ruleTable{exact: b.exact}
	for p, c := range b.globs {
		t.globs = append(t.globs, globRule{pattern: p, caps: c})
	}
	sort.Slice(t.globs, func(i, j int) bool { return t.globs[i].pattern < t.globs[j].pattern })
	return t
}

// lookup returns the capabilities of the rule that governs name: the rule
// naming it exactly if there is one, else the closest matching pattern. ok is
// false when no rule matches.
//
// Patterns equally close to name all govern it: their capabilities are
// merged, so a deny among them wins.
func (t *ruleTable) lookup(name string) (caps capSet, ok bool) {
	if c, found := t.exact[name]; found {
		return c, true
	}
	best := -1
	for _, g := range t.globs {
		if !globMatch(g.pattern, name) {
			continue
		}
		switch d := globDistance(g.pattern, name); {
		case best < 0 || d < best:
			best, caps = d, g.caps
		case d == best:
			caps = caps.merge(g.caps)
		}
	}
	return caps, best >= 0
}

// any reports whether some rule's capabilities satisfy f.
func (t *ruleTable) any(f func(capSet) bool) bool {
	for _, c := range t.exact {
		if f(c) {
			return true
		}
	}
	for _, g := range t.globs {
		if f(g.caps) {
			return true
		}
	}
	return false
}

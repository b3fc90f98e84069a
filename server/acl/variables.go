package acl

import "sort"

// varKey names a variables path rule: the namespace rule it sits in and its
// path, either of which may be a pattern.
type varKey struct {
	ns, path string
}

// varTable holds the merged variables path rules: those with an exact
// namespace and an exact path in a map, the others in a slice sorted by key.
//
// Namespace and path are matched separately, so no character of a request's
// namespace can be taken for part of its path or the other way round.
type varTable struct {
	exact map[varKey]capSet
	globs []varRule
}

type varRule struct {
	key  varKey
	caps capSet
}

type varTableBuilder struct {
	rules map[varKey]capSet
}

func (b *varTableBuilder) add(ns, path string, caps capSet) {
	if b.rules == nil {
		b.rules = make(map[varKey]capSet)
	}
	k := varKey{ns, path}
	if old, ok := b.rules[k]; ok {
		caps = old.merge(caps)
	}
	b.rules[k] = caps
}

func (b *varTableBuilder) build() varTable {
	var t varTable
	for k, c := range b.rules {
		if !isGlob(k.ns) && !isGlob(k.path) {
			if t.exact == nil {
				t.exact = make(map[varKey]capSet)
			}
			t.exact[k] = c
			continue
		}
		t.globs = append(t.globs, varRule{key: k, caps: c})
	}
	sort.Slice(t.globs, func(i, j int) bool {
		a, b := t.globs[i].key, t.globs[j].key
		return a.ns < b.ns || (a.ns == b.ns && a.path < b.path)
	})
	return t
}

// lookup returns the capabilities of the path rule governing the variable at
// path in namespace ns: the exact rule, else the closest matching pair of
// patterns, the distances of namespace and path added up; equally close
// pairs are merged, so a deny among them wins. ok is false when no rule
// matches.
func (t *varTable) lookup(ns, path string) (caps capSet, ok bool) {
	if c, found := t.exact[varKey{ns, path}]; found {
		return c, true
	}
	best := -1
	for _, r := range t.globs {
		if !globMatch(r.key.ns, ns) || !globMatch(r.key.path, path) {
			continue
		}
		switch d := globDistance(r.key.ns, ns) + globDistance(r.key.path, path); {
		case best < 0 || d < best:
			best, caps = d, r.caps
		case d == best:
			caps = caps.merge(r.caps)
		}
	}
	return caps, best >= 0
}

package acl

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		match         bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"**", "x", true},
		{"prod-*", "prod-api", true},
		{"prod-*", "prod-", true},
		{"prod-*", "prod", false},
		{"prod-*", "xprod-api", false},
		{"*-api", "prod-api", true},
		{"*-api", "prod-api-2", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"a*a", "aba", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"a*bc", "abcbc", true},
		{"*ab", "aab", true},
		{"*a*", "bbb", false},
		{"exact", "exact", true},
		{"exact", "exac", false},
		{"exact", "exactly", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.match, globMatch(tc.pattern, tc.name), "%q ~ %q", tc.pattern, tc.name)
	}
}

// TestGlobMatchAgainstRegexp compares globMatch with a regular expression
// built from the same pattern, on random short patterns and names.
func TestGlobMatchAgainstRegexp(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	word := func(alphabet string, n int) string {
		var b strings.Builder
		for i := rng.Intn(n + 1); i > 0; i-- {
			b.WriteByte(alphabet[rng.Intn(len(alphabet))])
		}
		return b.String()
	}
	for i := 0; i < 20000; i++ {
		pattern, name := word("ab*", 6), word("ab", 7)
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$")
		require.Equal(t, re.MatchString(name), globMatch(pattern, name), "%q ~ %q", pattern, name)
	}
}

func TestGlobDistance(t *testing.T) {
	// Nomad's own examples.
	require.Equal(t, 3, globDistance("production-*", "production-api"))
	require.Equal(t, 9, globDistance("production-*", "production-admin-api"))
	require.Equal(t, 9, globDistance("production-**", "production-admin-api"))
	require.Equal(t, 20, globDistance("*", "production-admin-api"))
	require.Equal(t, 0, globDistance("exact", "exact"))
}

func TestRuleTableLookup(t *testing.T) {
	read := namespaceKind.levels[PolicyRead]
	write := namespaceKind.levels[PolicyWrite]
	deny := namespaceKind.levels[PolicyDeny]
	build := func(rules map[string]capSet) ruleTable {
		var b ruleTableBuilder
		for name, c := range rules {
			b.add(name, c)
		}
		return b.build()
	}
	cases := []struct {
		name   string
		rules  map[string]capSet
		lookup string
		want   capSet
		found  bool
	}{
		{"no rules", nil, "a", 0, false},
		{"exact", map[string]capSet{"prod": write}, "prod", write, true},
		{"an exact name is not a prefix", map[string]capSet{"prod": write}, "prod-api", 0, false},
		{"exact beats a glob", map[string]capSet{"prod-api": read, "prod-*": deny}, "prod-api", read, true},
		{"exact deny beats a glob", map[string]capSet{"prod-api": deny, "prod-*": write}, "prod-api", deny, true},
		{"closest glob: prefix", map[string]capSet{"prod-api-*": write, "*-api-services": deny}, "prod-api-services", deny, true},
		{"closest glob: suffix", map[string]capSet{"*-ces": deny, "prod-api-*": write}, "prod-api-services", write, true},
		{"equally close globs", map[string]capSet{"*-services": deny, "prod-api-*": write}, "prod-api-services", deny, true},
		{"closest glob: star", map[string]capSet{"*": deny, "my-pool-*": write, "my-pool-dev-*": read}, "my-pool-dev-1", read, true},
		{"star only", map[string]capSet{"*": read}, "anything", read, true},
		{"tie: union", map[string]capSet{"a-*": read, "*-c": namespaceKind.bit("submit-job")}, "a-b-c", read | namespaceKind.bit("submit-job"), true},
		{"tie: deny wins", map[string]capSet{"a-*": write, "*-c": deny}, "a-b-c", deny, true},
		{"the '*' query namespace is matched literally", map[string]capSet{"prod-*": write}, "*", 0, false},
		{"the '*' query namespace and the '*' rule", map[string]capSet{"*": read}, "*", read, true},
	}
	for _, tc := range cases {
		tab := build(tc.rules)
		got, found := tab.lookup(tc.lookup)
		require.Equal(t, tc.found, found, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
}

func TestVarTableLookup(t *testing.T) {
	r := variablesKind.mustSet([]string{"read"})
	w := variablesKind.mustSet([]string{"write"})
	d := denyBit
	var b varTableBuilder
	b.add("ns", "a/b", r)
	b.add("ns", "a/*", w)
	b.add("*", "a/b", w)
	b.add("n*", "*", d)
	tab := b.build()

	got, ok := tab.lookup("ns", "a/b")
	require.True(t, ok)
	require.Equal(t, r, got, "exact namespace and path win")

	got, ok = tab.lookup("ns", "a/c")
	require.True(t, ok)
	require.Equal(t, w, got, "ns+a/* (1) beats n*+* (4)")

	got, ok = tab.lookup("other", "a/b")
	require.True(t, ok)
	require.Equal(t, w, got, "*+a/b")

	got, ok = tab.lookup("nx", "zzz")
	require.True(t, ok)
	require.Equal(t, d, got)

	_, ok = tab.lookup("other", "zzz")
	require.False(t, ok)

	// A namespace wildcard cannot reach into the path. Nomad matches one
	// pattern against namespace and path joined by a NUL, so there a NUL in
	// the requested path let "*" swallow part of it.
	var nul varTableBuilder
	nul.add("*", "b", r)
	tab = nul.build()
	_, ok = tab.lookup("x", "a\x00b")
	require.False(t, ok)
	_, ok = tab.lookup("x", "b")
	require.True(t, ok)
}

package scheduler

import (
	"testing"

	"github.com/droverhq/drover/structs"
)

// FuzzVersionMatches: node attributes and job constraints are free text;
// comparing them never panics, and a version always matches itself.
func FuzzVersionMatches(f *testing.F) {
	for _, s := range [][2]string{{"1.2.3", ">= 1.2, < 2"}, {"1.4.2-beta.1", "~> 1.4"}, {"v2", "!= 2.0.0"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, value, constraint string) {
		_ = versionMatches(value, constraint, false)
		_ = versionMatches(value, constraint, true)
		if v, ok := parseVersion(value, false); ok && v.compare(v) != 0 {
			t.Fatalf("%q does not equal itself", value)
		}
	})
}

// FuzzReservedPorts: a node's reserved_ports spec comes from its client;
// parsing it never panics and yields only real port numbers.
func FuzzReservedPorts(f *testing.F) {
	for _, s := range []string{"22,80", "8000-8100", "-1-70000", "a,b-c,,", "0-65535,0-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		for p := range reservedPorts(&structs.Node{ReservedPorts: spec}) {
			if p < 0 || p > 65535 {
				t.Fatalf("port %d from %q", p, spec)
			}
		}
	})
}

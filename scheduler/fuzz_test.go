package scheduler

import (
	"testing"

	"github.com/droverhq/drover/structs"
)

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

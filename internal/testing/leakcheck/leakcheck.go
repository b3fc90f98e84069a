// Package leakcheck holds the goroutine-leak checks of the packages whose
// tests start servers.
package leakcheck

import (
	"testing"

	"go.uber.org/goleak"
)

// ignored are goroutines of libraries that outlive their owner's shutdown
// by design, for a bounded time: memberlist's probe of a peer ends within
// its probe timeout (at most the TCP fallback timeout) after Shutdown.
var ignored = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
}

// VerifyTestMain runs the package's tests and fails if goroutines leak.
func VerifyTestMain(m *testing.M) { goleak.VerifyTestMain(m, ignored...) }

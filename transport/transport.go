// Package transport moves byte streams between drover agents; the RPC layer
// runs on top of it. transport/tcp is the default; transport/inmem connects
// agents of one process and can cut them apart, for tests.
package transport

import (
	"context"
	"net"
)

// Transport listens for and dials byte-stream connections.
type Transport interface {
	// Listen accepts connections on addr; a ":0" port picks a free one,
	// which the listener's Addr reports.
	Listen(addr string) (net.Listener, error)
	// Dial connects to addr, giving up when ctx is done.
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

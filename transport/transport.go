// Package transport moves byte streams between drover servers and clients;
// the RPC layer runs on top of it. transport/tcp is the default, with
// optional TLS; transport/inmem connects agents within one process and can
// cut them apart, for tests.
package transport

import (
	"context"
	"net"
)

// Transport moves byte streams between servers and clients: the RPC layer
// runs on top of it.
type Transport interface {
	// Listen accepts connections on addr ("127.0.0.1:0" picks a free port;
	// the listener's Addr tells which).
	Listen(addr string) (net.Listener, error)
	// Dial connects to addr, giving up when ctx is done.
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

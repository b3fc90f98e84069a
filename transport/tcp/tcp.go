// Package tcp is the TCP transport, with optional TLS.
package tcp

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/droverhq/drover/transport"
)

// Transport carries connections over TCP. The zero value is plain TCP; with
// TLS set, both listening and dialing use it.
type Transport struct {
	// TLS, when set, wraps every connection in TLS.
	TLS *tls.Config
}

var _ transport.Transport = Transport{}

// Listen implements transport.Transport.
func (t Transport) Listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	if t.TLS != nil {
		return tls.NewListener(ln, t.TLS), nil
	}
	return ln, nil
}

// Dial implements transport.Transport.
func (t Transport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if t.TLS != nil {
		d := tls.Dialer{Config: t.TLS}
		return d.DialContext(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

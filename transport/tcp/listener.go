package tcp

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// tlsListener serves TLS on the connections of a listener, and bounds
// each handshake in time.
type tlsListener struct {
	net.Listener
	config  *tls.Config
	timeout time.Duration // 0: no bound
}

// Accept returns the next connection as a server-side *tls.Conn. With a
// timeout, its handshake starts at once in its own goroutine, so that a
// peer that never completes it is disconnected even if nothing reads the
// connection, and one slow peer does not hold up Accept. Reads and writes
// on the connection wait for that handshake, and fail if it did.
func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := tls.Server(c, l.config)
	if l.timeout > 0 {
		go handshake(tc, l.timeout)
	}
	return tc, nil
}

// handshake completes tc's handshake within timeout, or closes tc.
func handshake(tc *tls.Conn, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = tc.Close()
	}
}

// limitedTLSListener is a tlsListener over a LimitListener.
type limitedTLSListener struct {
	*tlsListener
	lim *LimitListener
}

var _ Limited = (*limitedTLSListener)(nil)

// Refused implements Limited.
func (l *limitedTLSListener) Refused() uint64 { return l.lim.Refused() }

// OnRefused implements Limited.
func (l *limitedTLSListener) OnRefused(f func(remote net.Addr)) { l.lim.OnRefused(f) }

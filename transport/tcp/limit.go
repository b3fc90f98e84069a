package tcp

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Limited is implemented by listeners that cap the concurrent connections
// of each client: those of LimitConnsPerClient, and those Transport.Listen
// returns when MaxConnsPerClient is set.
type Limited interface {
	net.Listener
	// Refused returns how many connections were closed for being over
	// the limit.
	Refused() uint64
	// OnRefused sets a function called with the remote address of each
	// connection closed for being over the limit (nil for none), from the
	// goroutine calling Accept, before the connection is closed; it must
	// not block.
	OnRefused(f func(remote net.Addr))
}

// LimitListener caps the concurrent connections from each remote IP
// address (Nomad's rpc_max_conns_per_client and
// http_max_conns_per_client). Loopback is not exempt.
type LimitListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[string]int // open connections by remote IP

	refused   atomic.Uint64
	onRefused atomic.Pointer[func(net.Addr)]
}

var _ Limited = (*LimitListener)(nil)

// LimitConnsPerClient returns a listener that accepts at most max
// concurrent connections from one remote IP address; max <= 0 means no
// limit. A connection over the limit is closed as soon as it is accepted
// and counted, and Accept goes on to the next; a connection frees its
// place when it is closed. It works under TLS too: wrap the TCP listener,
// then add TLS on top.
func LimitConnsPerClient(ln net.Listener, max int) *LimitListener {
	return &LimitListener{Listener: ln, max: max, conns: map[string]int{}}
}

// Accept returns the next connection within the limit.
func (l *LimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.max <= 0 {
			return c, nil
		}
		ip := clientIP(c.RemoteAddr())
		l.mu.Lock()
		if l.conns[ip] >= l.max {
			l.mu.Unlock()
			// Counted and reported before Close: a peer that sees EOF
			// knows both happened.
			l.refused.Add(1)
			if f := l.onRefused.Load(); f != nil {
				(*f)(c.RemoteAddr())
			}
			_ = c.Close()
			continue
		}
		l.conns[ip]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l, ip: ip}, nil
	}
}

// Refused implements Limited.
func (l *LimitListener) Refused() uint64 { return l.refused.Load() }

// OnRefused implements Limited.
func (l *LimitListener) OnRefused(f func(remote net.Addr)) {
	if f == nil {
		l.onRefused.Store(nil)
		return
	}
	l.onRefused.Store(&f)
}

func (l *LimitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip]--; l.conns[ip] <= 0 {
		delete(l.conns, ip)
	}
}

// clientIP is the key of a remote address: its IP, IPv4 in IPv6 counting
// as IPv4; the address itself when it has no IP.
func clientIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().String()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	return a.String()
}

// limitedConn is a connection counted against its client's limit until
// it is closed.
type limitedConn struct {
	net.Conn
	l    *LimitListener
	ip   string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// CloseWrite shuts down the writing side, as net/http expects of a
// *net.TCPConn, when the wrapped connection can.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

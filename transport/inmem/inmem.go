// Package inmem connects agents of one process without sockets, and can cut
// them apart: partitions between addresses, isolation of one address.
package inmem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/droverhq/drover/transport"
)

// ErrConnRefused: nothing listens at the address, or it is cut off.
var ErrConnRefused = errors.New("inmem: connection refused")

// Network is a set of addresses that can reach each other.
type Network struct {
	mu        sync.Mutex
	listeners map[string]*listener
	cut       map[[2]string]bool
	isolated  map[string]bool
	conns     map[*conn]struct{}
	nextPort  int
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{
		listeners: map[string]*listener{}, cut: map[[2]string]bool{},
		isolated: map[string]bool{}, conns: map[*conn]struct{}{}, nextPort: 10000,
	}
}

// Transport returns a transport whose connections come from from: dials
// from it carry that address, so partitions apply to them.
func (n *Network) Transport(from string) transport.Transport { return &endpoint{n: n, from: from} }

type endpoint struct {
	n    *Network
	from string
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

func (n *Network) blocked(a, b string) bool {
	return n.isolated[a] || n.isolated[b] || n.cut[pair(a, b)]
}

// Partition cuts a and b apart: their connections close, new dials fail.
func (n *Network) Partition(a, b string) {
	n.mu.Lock()
	n.cut[pair(a, b)] = true
	n.mu.Unlock()
	n.closeMatching(func(c *conn) bool { return pair(c.local, c.remote) == pair(a, b) })
}

// Heal undoes Partition(a, b).
func (n *Network) Heal(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, pair(a, b))
}

// Isolate cuts addr from every other address.
func (n *Network) Isolate(addr string) {
	n.mu.Lock()
	n.isolated[addr] = true
	n.mu.Unlock()
	n.closeMatching(func(c *conn) bool { return c.local == addr || c.remote == addr })
}

// Rejoin undoes Isolate(addr).
func (n *Network) Rejoin(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.isolated, addr)
}

func (n *Network) closeMatching(match func(*conn) bool) {
	n.mu.Lock()
	var victims []*conn
	for c := range n.conns {
		if match(c) {
			victims = append(victims, c)
		}
	}
	n.mu.Unlock()
	for _, c := range victims {
		_ = c.Close()
	}
}

// Listen implements transport.Transport; "host:0" gets a unique port.
func (e *endpoint) Listen(addr string) (net.Listener, error) {
	n := e.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if strings.HasSuffix(addr, ":0") {
		n.nextPort++
		addr = fmt.Sprintf("%s:%d", strings.TrimSuffix(addr, ":0"), n.nextPort)
	}
	if n.listeners[addr] != nil {
		return nil, fmt.Errorf("inmem: listen %s: address in use", addr)
	}
	l := &listener{n: n, addr: addr, accept: make(chan net.Conn), closed: make(chan struct{})}
	n.listeners[addr] = l
	return l, nil
}

// Dial implements transport.Transport.
func (e *endpoint) Dial(ctx context.Context, addr string) (net.Conn, error) {
	n := e.n
	n.mu.Lock()
	l := n.listeners[addr]
	if l == nil || n.blocked(e.from, addr) {
		n.mu.Unlock()
		return nil, fmt.Errorf("dial %s: %w", addr, ErrConnRefused)
	}
	a, b := net.Pipe()
	local := &conn{Conn: a, n: n, local: e.from, remote: addr}
	remote := &conn{Conn: b, n: n, local: addr, remote: e.from}
	n.conns[local] = struct{}{}
	n.conns[remote] = struct{}{}
	n.mu.Unlock()
	select {
	case l.accept <- remote:
		return local, nil
	case <-l.closed:
	case <-ctx.Done():
	}
	_ = local.Close()
	_ = remote.Close()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("dial %s: %w", addr, ErrConnRefused)
}

type listener struct {
	n      *Network
	addr   string
	accept chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.n.mu.Lock()
		delete(l.n.listeners, l.addr)
		l.n.mu.Unlock()
	})
	return nil
}

func (l *listener) Addr() net.Addr { return addr(l.addr) }

type addr string

func (a addr) Network() string { return "inmem" }
func (a addr) String() string  { return string(a) }

type conn struct {
	net.Conn
	n             *Network
	local, remote string
}

func (c *conn) LocalAddr() net.Addr  { return addr(c.local) }
func (c *conn) RemoteAddr() net.Addr { return addr(c.remote) }

func (c *conn) Close() error {
	c.n.mu.Lock()
	delete(c.n.conns, c)
	c.n.mu.Unlock()
	return c.Conn.Close()
}

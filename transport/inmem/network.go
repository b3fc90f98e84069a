// Package inmem is a transport.Transport within one process, for tests: a
// Network connects the transports made from it, and can cut them apart.
//
// A transport is a host on the network. Its identity is every address it
// has listened on (and a generated "host-N" name, which is the local
// address of its connections while it listens on nothing). Fault injection
// works on these identities: Partition(a, b) cuts the host that owns a
// from the host that owns b, whichever of them dials. A host always
// reaches itself.
package inmem

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/droverhq/drover/transport"
)

// Errors of the in-memory network, wrapped in a *net.OpError.
var (
	// ErrConnRefused is returned by Dial when nothing listens on the address.
	ErrConnRefused = errors.New("inmem: connection refused")
	// ErrUnreachable is returned by Dial across a partition or to or from
	// an isolated host.
	ErrUnreachable = errors.New("inmem: network unreachable")
	// ErrConnReset is returned by reads and writes on a connection that a
	// partition or isolation broke, or that was queued on a listener that
	// closed before accepting it.
	ErrConnReset = errors.New("inmem: connection reset")
	// ErrAddrInUse is returned by Listen when the address already has a
	// listener.
	ErrAddrInUse = errors.New("inmem: address already in use")
)

// Addr is an address on a Network.
type Addr string

// Network implements net.Addr: it returns "inmem".
func (Addr) Network() string { return "inmem" }

// String implements net.Addr.
func (a Addr) String() string { return string(a) }

// Network is an in-memory network. The zero value is not usable: call
// NewNetwork. It is safe for concurrent use.
type Network struct {
	mu        sync.Mutex
	listeners map[string]*listener
	links     map[*link]struct{} // open connections
	cuts      map[[2]string]struct{}
	isolated  map[string]struct{}
	hosts     int // hosts made so far, to name them
	port      int // last port handed out for ":0"
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{
		listeners: map[string]*listener{},
		links:     map[*link]struct{}{},
		cuts:      map[[2]string]struct{}{},
		isolated:  map[string]struct{}{},
	}
}

// Transport returns a new host on the network: a transport.Transport that
// reaches every other transport of the network.
func (n *Network) Transport() transport.Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hosts++
	name := "host-" + strconv.Itoa(n.hosts)
	return &host{n: n, name: name, addrs: map[string]struct{}{name: {}}}
}

// Partition cuts the hosts owning a and b apart: their connections break
// and new dials between them fail with ErrUnreachable until Heal.
func (n *Network) Partition(a, b string) {
	n.mu.Lock()
	n.cuts[pair(a, b)] = struct{}{}
	n.mu.Unlock()
	n.sweep()
}

// Heal undoes Partition(a, b). Connections it broke stay broken.
func (n *Network) Heal(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cuts, pair(a, b))
}

// Isolate cuts the host owning addr from every other host, as if
// partitioned from each of them, until Rejoin.
func (n *Network) Isolate(addr string) {
	n.mu.Lock()
	n.isolated[addr] = struct{}{}
	n.mu.Unlock()
	n.sweep()
}

// Rejoin undoes Isolate(addr). Connections it broke stay broken.
func (n *Network) Rejoin(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.isolated, addr)
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// sweep breaks every open connection that the current faults cut, before
// returning.
func (n *Network) sweep() {
	var broken []*link
	n.mu.Lock()
	for l := range n.links {
		if n.blockedLocked(l.hosts[0].addrs, l.hosts[1].addrs, l.hosts[0] == l.hosts[1]) {
			delete(n.links, l)
			broken = append(broken, l)
		}
	}
	n.mu.Unlock()
	for _, l := range broken {
		l.breakLink()
	}
}

// blockedLocked reports whether the faults cut hosts with the address sets
// a and b apart. n.mu must be held.
func (n *Network) blockedLocked(a, b map[string]struct{}, same bool) bool {
	if same {
		return false
	}
	for x := range a {
		if _, ok := n.isolated[x]; ok {
			return true
		}
	}
	for y := range b {
		if _, ok := n.isolated[y]; ok {
			return true
		}
	}
	for x := range a {
		for y := range b {
			if _, ok := n.cuts[pair(x, y)]; ok {
				return true
			}
		}
	}
	return false
}

func (n *Network) removeLink(l *link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.links, l)
}

// host is one transport on a Network.
type host struct {
	n    *Network
	name string
	// Guarded by n.mu.
	addrs   map[string]struct{} // name and every address listened on
	primary string              // the first address listened on
}

// localAddr is the address the host's dialed connections come from. n.mu
// must be held.
func (h *host) localAddr() string {
	if h.primary != "" {
		return h.primary
	}
	return h.name
}

// Listen implements transport.Transport. Any string is an address; one
// ending in ":0" gets that suffix replaced by a port number unique on the
// network ("node:0" becomes "node:1", say).
func (h *host) Listen(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, &net.OpError{Op: "listen", Net: "inmem", Err: errors.New("inmem: empty address")}
	}
	n := h.n
	n.mu.Lock()
	if prefix, ok := strings.CutSuffix(addr, ":0"); ok {
		for {
			n.port++
			addr = prefix + ":" + strconv.Itoa(n.port)
			if _, used := n.listeners[addr]; !used {
				break
			}
		}
	}
	if _, used := n.listeners[addr]; used {
		n.mu.Unlock()
		return nil, &net.OpError{Op: "listen", Net: "inmem", Addr: Addr(addr), Err: ErrAddrInUse}
	}
	l := newListener(h, addr)
	n.listeners[addr] = l
	h.addrs[addr] = struct{}{}
	if h.primary == "" {
		h.primary = addr
	}
	n.mu.Unlock()
	// The host's new identity may put its connections across a fault.
	n.sweep()
	return l, nil
}

// Dial implements transport.Transport. It fails at once with ErrConnRefused
// when nothing listens on addr and with ErrUnreachable across a fault; it
// waits, within ctx, only while the listener's accept queue is full.
func (h *host) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, dialErr(addr, err)
	}
	n := h.n
	n.mu.Lock()
	l := n.listeners[addr]
	target := map[string]struct{}{addr: {}}
	if l != nil {
		target = l.host.addrs
	}
	if n.blockedLocked(h.addrs, target, l != nil && l.host == h) {
		n.mu.Unlock()
		return nil, dialErr(addr, ErrUnreachable)
	}
	if l == nil {
		n.mu.Unlock()
		return nil, dialErr(addr, ErrConnRefused)
	}
	lk := newLink(n, h, l.host)
	n.links[lk] = struct{}{}
	local := Addr(h.localAddr())
	n.mu.Unlock()

	client := lk.end(0, local, Addr(addr))
	server := lk.end(1, Addr(addr), local)
	if err := l.enqueue(ctx, server); err != nil {
		n.removeLink(lk)
		lk.breakLink()
		return nil, dialErr(addr, err)
	}
	return client, nil
}

func dialErr(addr string, err error) error {
	return &net.OpError{Op: "dial", Net: "inmem", Addr: Addr(addr), Err: err}
}

package inmem

import (
	"context"
	"net"
	"sync"
)

// backlog is how many dialed connections wait for Accept before Dial
// blocks.
const backlog = 64

// listener is a net.Listener on a Network.
type listener struct {
	host  *host
	addr  Addr
	queue chan *conn
	done  chan struct{}
	once  sync.Once
}

func newListener(h *host, addr string) *listener {
	return &listener{host: h, addr: Addr(addr), queue: make(chan *conn, backlog), done: make(chan struct{})}
}

// Accept implements net.Listener. After Close it returns an error wrapping
// net.ErrClosed.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, l.closedErr("accept")
	default:
	}
	select {
	case c := <-l.queue:
		return c, nil
	case <-l.done:
		return nil, l.closedErr("accept")
	}
}

// Close implements net.Listener: it unblocks Accept, frees the address and
// resets the connections that were dialed but not accepted.
func (l *listener) Close() error {
	first := false
	l.once.Do(func() {
		first = true
		n := l.host.n
		n.mu.Lock()
		if n.listeners[string(l.addr)] == l {
			delete(n.listeners, string(l.addr))
		}
		n.mu.Unlock()
		close(l.done)
		for {
			select {
			case c := <-l.queue:
				n.removeLink(c.link)
				c.link.breakLink()
			default:
				return
			}
		}
	})
	if !first {
		return l.closedErr("close")
	}
	return nil
}

// Addr implements net.Listener.
func (l *listener) Addr() net.Addr { return l.addr }

func (l *listener) closedErr(op string) error {
	return &net.OpError{Op: op, Net: "inmem", Addr: l.addr, Err: net.ErrClosed}
}

// enqueue hands c to Accept, waiting within ctx while the queue is full.
func (l *listener) enqueue(ctx context.Context, c *conn) error {
	select {
	case l.queue <- c:
		select {
		case <-l.done:
			// Close may have drained the queue before c got in.
			return ErrConnRefused
		default:
			return nil
		}
	case <-l.done:
		return ErrConnRefused
	case <-ctx.Done():
		return ctx.Err()
	}
}

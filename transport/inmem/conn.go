package inmem

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// bufferSize is how many bytes a connection holds in each direction before
// Write blocks, like a socket's buffers.
const bufferSize = 256 << 10

// link is the shared state of a connection's two ends: end 0 dialed, end 1
// was accepted.
type link struct {
	n     *Network
	hosts [2]*host

	mu     sync.Mutex
	buf    [2]bytes.Buffer // buf[i] holds the bytes waiting for end i to read
	closed [2]bool         // end i was closed by its owner
	broken bool            // a fault reset the connection
	wake   chan struct{}   // closed, and replaced, on every change
}

func newLink(n *Network, dialer, acceptor *host) *link {
	return &link{n: n, hosts: [2]*host{dialer, acceptor}, wake: make(chan struct{})}
}

// end returns the conn for one side of the link.
func (l *link) end(side int, local, remote Addr) *conn {
	return &conn{link: l, side: side, local: local, remote: remote, rd: newDeadline(), wd: newDeadline()}
}

// changed wakes every waiting Read and Write. l.mu must be held.
func (l *link) changed() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// breakLink resets the connection: pending and later reads and writes on
// both ends fail with ErrConnReset.
func (l *link) breakLink() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broken = true
	l.buf[0].Reset()
	l.buf[1].Reset()
	l.changed()
}

// conn is one end of a connection: a net.Conn.
type conn struct {
	link          *link
	side          int
	local, remote Addr
	rd, wd        *deadline
}

// Read implements net.Conn. It returns io.EOF once the peer closed and
// everything it wrote was read.
func (c *conn) Read(b []byte) (int, error) {
	l := c.link
	l.mu.Lock()
	for {
		switch {
		case l.closed[c.side]:
			l.mu.Unlock()
			return 0, c.opErr("read", net.ErrClosed)
		case l.broken:
			l.mu.Unlock()
			return 0, c.opErr("read", ErrConnReset)
		case c.rd.passed():
			l.mu.Unlock()
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		case len(b) == 0:
			l.mu.Unlock()
			return 0, nil
		case l.buf[c.side].Len() > 0:
			n, _ := l.buf[c.side].Read(b)
			l.changed()
			l.mu.Unlock()
			return n, nil
		case l.closed[1-c.side]:
			l.mu.Unlock()
			return 0, io.EOF
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-c.rd.wait():
		}
		l.mu.Lock()
	}
}

// Write implements net.Conn. It blocks while the peer's buffer is full.
func (c *conn) Write(b []byte) (int, error) {
	l := c.link
	peer := 1 - c.side
	n := 0
	l.mu.Lock()
	for {
		switch {
		case l.closed[c.side]:
			l.mu.Unlock()
			return n, c.opErr("write", net.ErrClosed)
		case l.broken:
			l.mu.Unlock()
			return n, c.opErr("write", ErrConnReset)
		case l.closed[peer]:
			l.mu.Unlock()
			return n, c.opErr("write", io.ErrClosedPipe)
		case c.wd.passed():
			l.mu.Unlock()
			return n, c.opErr("write", os.ErrDeadlineExceeded)
		case n == len(b):
			l.mu.Unlock()
			return n, nil
		}
		if space := bufferSize - l.buf[peer].Len(); space > 0 {
			k := min(space, len(b)-n)
			l.buf[peer].Write(b[n : n+k])
			n += k
			l.changed()
			continue
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-c.wd.wait():
		}
		l.mu.Lock()
	}
}

// Close implements net.Conn. Pending reads and writes on this end fail
// with net.ErrClosed; the peer reads what was written, then io.EOF.
func (c *conn) Close() error {
	l := c.link
	l.mu.Lock()
	if l.closed[c.side] {
		l.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	l.closed[c.side] = true
	l.buf[c.side].Reset()
	l.changed()
	l.mu.Unlock()
	l.n.removeLink(l)
	return nil
}

// LocalAddr implements net.Conn.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline implements net.Conn.
func (c *conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return nil
}

func (c *conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "inmem", Source: c.local, Addr: c.remote, Err: err}
}

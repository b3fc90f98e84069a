// Package streamconn turns a bidirectional gRPC stream of byte frames
// into a net.Conn, so that a second gRPC connection can run inside it.
// A client keeps one such stream open to a server, and the server calls
// the client's endpoints through it: the client needs no listener of its
// own, and the operator needs no route to it.
package streamconn

import (
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/droverhq/drover/structs"
)

// Stream is either end of a ClientConnect call.
type Stream interface {
	Send(*structs.ClientConnectFrame) error
	Recv() (*structs.ClientConnectFrame, error)
}

// maxFrame bounds the bytes of one frame.
const maxFrame = 32 << 10

// Conn is a net.Conn over a Stream. Reads and writes may run
// concurrently; Close ends the stream through the function given to New.
type Conn struct {
	s             Stream
	end           func()
	local, remote net.Addr

	frames chan []byte
	// recvErr is set before frames is closed.
	recvErr error
	buf     []byte

	wmu sync.Mutex

	closeOnce sync.Once
	closed    chan struct{}
	recvDone  chan struct{}

	dlMu      sync.Mutex
	deadline  time.Time
	dlChanged chan struct{}
}

// New starts reading s. end must make s.Recv return (cancel the stream's
// context, or return from the handler that owns it); Close calls it.
func New(s Stream, end func(), local, remote net.Addr) *Conn {
	c := &Conn{
		s: s, end: end, local: local, remote: remote,
		frames: make(chan []byte), closed: make(chan struct{}), recvDone: make(chan struct{}),
		dlChanged: make(chan struct{}),
	}
	go c.receive()
	return c
}

func (c *Conn) receive() {
	defer close(c.recvDone)
	defer close(c.frames)
	for {
		f, err := c.s.Recv()
		if err != nil {
			c.recvErr = err
			return
		}
		if len(f.GetData()) == 0 {
			continue
		}
		select {
		case c.frames <- f.Data:
		case <-c.closed:
			return
		}
	}
}

// Read implements net.Conn.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	for {
		c.dlMu.Lock()
		dl, changed := c.deadline, c.dlChanged
		c.dlMu.Unlock()
		var (
			timer   *time.Timer
			expired <-chan time.Time
		)
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		select {
		case b, ok := <-c.frames:
			stop(timer)
			if !ok {
				if c.recvErr == nil || c.recvErr == io.EOF {
					return 0, io.EOF
				}
				return 0, c.recvErr
			}
			n := copy(p, b)
			c.buf = b[n:]
			return n, nil
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		case <-changed:
			stop(timer)
		case <-c.closed:
			stop(timer)
			return 0, net.ErrClosed
		}
	}
}

func stop(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// Write implements net.Conn; it sends p in frames of at most 32 KiB.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for written < len(p) {
		select {
		case <-c.closed:
			return written, net.ErrClosed
		default:
		}
		n := min(len(p)-written, maxFrame)
		if err := c.s.Send(&structs.ClientConnectFrame{Data: p[written : written+n]}); err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

// Close ends the stream; it is safe to call more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.end()
	})
	return nil
}

// Done is closed once Close has been called.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// Broken is closed once the stream can no longer be read: the other end
// went away, or the conn was closed.
func (c *Conn) Broken() <-chan struct{} { return c.recvDone }

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline implements net.Conn: it sets the read deadline (writes are
// bounded by the stream's flow control and by Close).
func (c *Conn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.deadline = t
	close(c.dlChanged)
	c.dlChanged = make(chan struct{})
	return nil
}

// SetWriteDeadline implements net.Conn; writes have no deadline of their own.
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

// Addr is a net.Addr naming one end of a stream.
type Addr string

// Network implements net.Addr.
func (a Addr) Network() string { return "drover-stream" }

// String implements net.Addr.
func (a Addr) String() string { return string(a) }

// Listener hands out the conns given to Offer, for a gRPC server that
// serves every connection its client opens, one after another.
type Listener struct {
	conns     chan net.Conn
	closeOnce sync.Once
	closed    chan struct{}
	addr      net.Addr
}

// NewListener returns a listener reporting addr.
func NewListener(addr net.Addr) *Listener {
	return &Listener{conns: make(chan net.Conn), closed: make(chan struct{}), addr: addr}
}

// Offer hands c to Accept; it fails with net.ErrClosed once the listener
// is closed.
func (l *Listener) Offer(c net.Conn) error {
	select {
	case l.conns <- c:
		return nil
	case <-l.closed:
		return net.ErrClosed
	}
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr { return l.addr }

package inmem_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/inmem"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait is how long a test waits for something that should happen at once.
const wait = 10 * time.Second

// listen listens on addr and closes the listener when the test ends.
func listen(t *testing.T, tr transport.Transport, addr string) net.Listener {
	t.Helper()
	ln, err := tr.Listen(addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// connect dials addr from tr, accepts on ln and returns both ends, closed
// when the test ends.
func connect(t *testing.T, tr transport.Transport, ln net.Listener) (dialed, accepted net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	dialed, err := tr.Dial(ctx, ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = dialed.Close() })
	accepted, err = ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { _ = accepted.Close() })
	return dialed, accepted
}

func dial(tr transport.Transport, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := tr.Dial(ctx, addr)
	if err == nil {
		_ = c.Close()
	}
	return err
}

// readErr reads from c in the background and returns the error that ends
// the read.
func readErr(c net.Conn) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	return errc
}

func requireErr(t *testing.T, errc <-chan error, target error) {
	t.Helper()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, target)
	case <-time.After(wait):
		t.Fatalf("no error after %s, want %v", wait, target)
	}
}

func TestConn(t *testing.T) {
	n := inmem.NewNetwork()
	server, client := n.Transport(), n.Transport()
	ln := listen(t, server, "server:0")
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		c1, err = client.Dial(context.Background(), ln.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		c2, err = ln.Accept()
		if err != nil {
			return nil, nil, nil, err
		}
		return c1, c2, func() { _ = c1.Close(); _ = c2.Close() }, nil
	})
}

func TestRoundTripAndAddresses(t *testing.T) {
	n := inmem.NewNetwork()
	a, b := n.Transport(), n.Transport()
	lnA := listen(t, a, "a")
	lnB := listen(t, b, "b")
	require.Equal(t, "a", lnA.Addr().String())
	require.Equal(t, "inmem", lnA.Addr().Network())

	dialed, accepted := connect(t, a, lnB)
	require.Equal(t, "a", dialed.LocalAddr().String())
	require.Equal(t, "b", dialed.RemoteAddr().String())
	require.Equal(t, "b", accepted.LocalAddr().String())
	require.Equal(t, "a", accepted.RemoteAddr().String())

	_, err := dialed.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(accepted, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))

	// Closing one end: the other reads what was written, then io.EOF, and
	// can no longer write.
	_, err = accepted.Write([]byte("bye"))
	require.NoError(t, err)
	require.NoError(t, accepted.Close())
	got, err := io.ReadAll(dialed)
	require.NoError(t, err)
	require.Equal(t, "bye", string(got))
	_, err = dialed.Write([]byte("x"))
	require.ErrorIs(t, err, io.ErrClosedPipe)
	_, err = accepted.Read(buf)
	require.ErrorIs(t, err, net.ErrClosed)
	require.ErrorIs(t, accepted.Close(), net.ErrClosed)

	// A host that listens on nothing dials from its generated name.
	c := n.Transport()
	dialed, accepted = connect(t, c, lnA)
	require.True(t, strings.HasPrefix(dialed.LocalAddr().String(), "host-"), dialed.LocalAddr())
	require.Equal(t, dialed.LocalAddr(), accepted.RemoteAddr())
}

func TestListenAddresses(t *testing.T) {
	n := inmem.NewNetwork()
	tr := n.Transport()
	ln1 := listen(t, tr, "node:0")
	ln2 := listen(t, n.Transport(), "node:0")
	ln3 := listen(t, tr, ":0")
	for _, ln := range []net.Listener{ln1, ln2, ln3} {
		require.NotContains(t, []string{"node:0", ":0"}, ln.Addr().String())
	}
	require.True(t, strings.HasPrefix(ln1.Addr().String(), "node:"))
	require.NotEqual(t, ln1.Addr().String(), ln2.Addr().String())
	require.NoError(t, dial(tr, ln2.Addr().String()))

	ln := listen(t, tr, "fixed")
	_, err := n.Transport().Listen("fixed")
	require.ErrorIs(t, err, inmem.ErrAddrInUse)
	require.NoError(t, ln.Close())
	listen(t, n.Transport(), "fixed")

	_, err = tr.Listen("")
	require.Error(t, err)
}

func TestDialNoListener(t *testing.T) {
	n := inmem.NewNetwork()
	tr := n.Transport()
	err := dial(tr, "nobody")
	require.ErrorIs(t, err, inmem.ErrConnRefused)
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr)
	require.Equal(t, "dial", opErr.Op)

	ln, err := tr.Listen("gone")
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	require.ErrorIs(t, dial(tr, "gone"), inmem.ErrConnRefused)
}

func TestListenerCloseUnblocksAccept(t *testing.T) {
	n := inmem.NewNetwork()
	ln, err := n.Transport().Listen("server")
	require.NoError(t, err)
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.Close()
		}
		accepted <- err
	}()
	require.NoError(t, ln.Close())
	requireErr(t, accepted, net.ErrClosed)
	require.ErrorIs(t, ln.Close(), net.ErrClosed)
	_, err = ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestListenerCloseResetsQueued(t *testing.T) {
	n := inmem.NewNetwork()
	tr := n.Transport()
	ln, err := tr.Listen("server")
	require.NoError(t, err)
	queued, err := tr.Dial(context.Background(), "server")
	require.NoError(t, err)
	defer queued.Close()
	blocked := readErr(queued)

	require.NoError(t, ln.Close())
	requireErr(t, blocked, inmem.ErrConnReset)
}

func TestDialContext(t *testing.T) {
	n := inmem.NewNetwork()
	tr := n.Transport()
	ln := listen(t, tr, "busy")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tr.Dial(ctx, "busy")
	require.ErrorIs(t, err, context.Canceled)

	// Fill the accept queue: the next Dial waits, until its deadline.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		c, err := tr.Dial(ctx, "busy")
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			break
		}
		conns = append(conns, c)
		require.Less(t, len(conns), 10000, "Dial never blocked")
	}

	// A blocked Dial fails when the listener closes.
	errc := make(chan error, 1)
	go func() { errc <- dial(tr, "busy") }()
	require.NoError(t, ln.Close())
	requireErr(t, errc, inmem.ErrConnRefused)
}

func TestPartition(t *testing.T) {
	n := inmem.NewNetwork()
	a, b, c := n.Transport(), n.Transport(), n.Transport()
	lnA, lnB := listen(t, a, "a"), listen(t, b, "b")
	listen(t, c, "c")

	ab, ba := connect(t, a, lnB) // dialed by a
	bSide, aSide := connect(t, b, lnA)
	ca, _ := connect(t, c, lnA)
	blocked := readErr(ab)

	n.Partition("a", "b")
	requireErr(t, blocked, inmem.ErrConnReset)
	for _, conn := range []net.Conn{ab, ba, bSide, aSide} {
		_, err := conn.Write([]byte("x"))
		require.ErrorIs(t, err, inmem.ErrConnReset)
	}
	require.ErrorIs(t, dial(a, "b"), inmem.ErrUnreachable)
	require.ErrorIs(t, dial(b, "a"), inmem.ErrUnreachable)

	// Others are not affected.
	_, err := ca.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, dial(a, "c"))
	require.NoError(t, dial(c, "b"))
	// A host still reaches itself.
	require.NoError(t, dial(a, "a"))

	n.Heal("b", "a")
	require.NoError(t, dial(a, "b"))
	require.NoError(t, dial(b, "a"))
	// Broken connections stay broken.
	_, err = ab.Write([]byte("x"))
	require.ErrorIs(t, err, inmem.ErrConnReset)
}

func TestPartitionBeforeListen(t *testing.T) {
	n := inmem.NewNetwork()
	n.Partition("a", "b")
	a, b := n.Transport(), n.Transport()
	listen(t, a, "a")
	require.NoError(t, dial(b, "a"), "b does not own b yet")
	lnB := listen(t, b, "b")
	require.ErrorIs(t, dial(b, "a"), inmem.ErrUnreachable)
	require.ErrorIs(t, dial(a, lnB.Addr().String()), inmem.ErrUnreachable)
}

func TestIsolate(t *testing.T) {
	n := inmem.NewNetwork()
	a, b, c := n.Transport(), n.Transport(), n.Transport()
	lnA, lnB := listen(t, a, "a"), listen(t, b, "b")
	listen(t, c, "c")
	toB, _ := connect(t, a, lnB)
	fromB, _ := connect(t, b, lnA)
	blocked := readErr(fromB)

	n.Isolate("b")
	requireErr(t, blocked, inmem.ErrConnReset)
	_, err := toB.Write([]byte("x"))
	require.ErrorIs(t, err, inmem.ErrConnReset)
	for _, tc := range []struct {
		from transport.Transport
		to   string
	}{{a, "b"}, {c, "b"}, {b, "a"}, {b, "c"}} {
		require.ErrorIs(t, dial(tc.from, tc.to), inmem.ErrUnreachable, "to %s", tc.to)
	}
	require.NoError(t, dial(a, "c"))
	require.NoError(t, dial(b, "b"))
	// An isolated address without a listener is unreachable too.
	n.Isolate("nobody")
	require.ErrorIs(t, dial(a, "nobody"), inmem.ErrUnreachable)

	n.Rejoin("b")
	require.NoError(t, dial(a, "b"))
	require.NoError(t, dial(b, "c"))
}

func TestWriteBlocksWhenBufferFull(t *testing.T) {
	n := inmem.NewNetwork()
	tr := n.Transport()
	dialed, accepted := connect(t, tr, listen(t, tr, "x"))

	// Long enough that a loaded machine still copies into the buffer before it passes.
	require.NoError(t, dialed.SetWriteDeadline(time.Now().Add(time.Second)))
	written, err := dialed.Write(make([]byte, 1<<20))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	require.True(t, netErr.Timeout())
	require.Positive(t, written)
	require.Less(t, written, 1<<20)

	// What was written arrives.
	require.NoError(t, dialed.Close())
	got, err := io.ReadAll(accepted)
	require.NoError(t, err)
	require.Len(t, got, written)
}

// TestHTTP runs a real protocol over the network.
func TestHTTP(t *testing.T) {
	n := inmem.NewNetwork()
	ln, err := n.Transport().Listen("web:0")
	require.NoError(t, err)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }),
		ReadHeaderTimeout: wait,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	client := n.Transport()
	ht := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return client.Dial(ctx, addr)
	}}
	defer ht.CloseIdleConnections()
	resp, err := (&http.Client{Transport: ht, Timeout: wait}).Get("http://" + ln.Addr().String() + "/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, "hello", string(body))

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	requireErr(t, served, http.ErrServerClosed)
}

package tcp_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/droverhq/drover/transport/tcp"
)

// attack opens n connections to addr from laddr (any if nil) that never
// start a TLS handshake, and requires the server to close every one of
// them.
func attack(t *testing.T, laddr *net.TCPAddr, addr string, n int) (closedByServer func()) {
	t.Helper()
	d := net.Dialer{LocalAddr: laddr, Timeout: wait}
	var conns []net.Conn
	for range n {
		c, err := d.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		conns = append(conns, c)
	}
	return func() {
		t.Helper()
		for _, c := range conns {
			requireClosedByPeer(t, c)
		}
	}
}

// waitRefused waits until lim has refused at least n connections.
func waitRefused(t *testing.T, lim tcp.Limited, n uint64) {
	t.Helper()
	eventually(t, func() error {
		if got := lim.Refused(); got < n {
			return fmt.Errorf("refused %d connections, want %d", got, n)
		}
		return nil
	})
}

// TestUnauthenticatedConnsDoNotLockOut is the regression test of
// CVE-2020-7218: connections that never complete a TLS handshake must not
// keep a legitimate client out for good. Here they come from the client's
// own address, so they take all its places until the handshake timeout
// frees them; the client gets in then.
func TestUnauthenticatedConnsDoNotLockOut(t *testing.T) {
	c := newCluster(t)
	const limit, attackers = 3, 30
	tr := c.serverTransport(t)
	tr.HandshakeTimeout = 300 * time.Millisecond
	tr.MaxConnsPerClient = limit
	srv := serveRPC(t, tr)
	lim := srv.ln.(tcp.Limited)

	closed := attack(t, nil, srv.addr, attackers)
	waitRefused(t, lim, attackers-limit)

	hc := rpcClient(t, tcp.Transport{Material: material(t, c.ca, c.server)}, srv.addr, tcp.ServerName("global"))
	require.NoError(t, check(hc, grpc.WaitForReady(true)))
	closed()
}

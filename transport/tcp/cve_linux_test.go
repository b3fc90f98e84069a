package tcp_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/transport/tcp"
)

// TestUnauthenticatedConnsFromAnotherClient is
// TestUnauthenticatedConnsDoNotLockOut with the connections that never
// handshake coming from another address (127.0.0.2; Linux routes all of
// 127/8 to loopback): the legitimate client gets in at once, its first
// connection attempt succeeding.
func TestUnauthenticatedConnsFromAnotherClient(t *testing.T) {
	c := newCluster(t)
	const limit, attackers = 3, 30
	tr := c.serverTransport(t)
	tr.HandshakeTimeout = 300 * time.Millisecond
	tr.MaxConnsPerClient = limit
	srv := serveRPC(t, tr)
	lim := srv.ln.(tcp.Limited)

	closed := attack(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, srv.addr, attackers)
	waitRefused(t, lim, attackers-limit)

	// No WaitForReady: the call fails if the first connection attempt
	// does.
	hc := rpcClient(t, tcp.Transport{Material: material(t, c.ca, c.server)}, srv.addr, tcp.ServerName("global"))
	require.NoError(t, check(hc))
	require.EqualValues(t, attackers-limit, lim.Refused())
	closed()
}

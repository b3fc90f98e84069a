package tcp_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/droverhq/drover/transport/tcp"
)

// eventually calls f until it returns nil, for up to wait.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", wait, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxConnsPerClient(t *testing.T) {
	c := newCluster(t)
	for name, tr := range map[string]tcp.Transport{
		"plain": {MaxConnsPerClient: 2},
		"tls":   {MaxConnsPerClient: 2, Material: material(t, c.ca, c.server)},
	} {
		t.Run(name, func(t *testing.T) {
			client := tcp.Transport{}
			if tr.Material != nil {
				client = c.clientTransport(t)
			}
			ln, err := tr.Listen("127.0.0.1:0")
			require.NoError(t, err)
			lim, ok := ln.(tcp.Limited)
			require.True(t, ok, "%T is not Limited", ln)
			var (
				mu      sync.Mutex
				refused []net.Addr
			)
			lim.OnRefused(func(a net.Addr) {
				mu.Lock()
				defer mu.Unlock()
				refused = append(refused, a)
			})
			srv := serveOn(t, ln)

			c1, err := dial(bg, client, srv.addr)
			require.NoError(t, err)
			defer c1.Close()
			require.NoError(t, echo(c1))
			c2, err := dial(bg, client, srv.addr)
			require.NoError(t, err)
			defer c2.Close()
			require.NoError(t, echo(c2))

			// The third is closed at once: by the time the client sees it,
			// it has been counted.
			c3, err := net.Dial("tcp", srv.addr)
			require.NoError(t, err)
			defer c3.Close()
			requireClosedByPeer(t, c3)
			require.EqualValues(t, 1, lim.Refused())
			mu.Lock()
			seen := append([]net.Addr(nil), refused...)
			mu.Unlock()
			require.Len(t, seen, 1, "the refusal was reported before the connection closed")
			require.Equal(t, "127.0.0.1", seen[0].(*net.TCPAddr).IP.String())

			// The first two still work.
			require.NoError(t, echo(c1))
			require.NoError(t, echo(c2))

			// Once one closes, and the server has seen it, a new one gets
			// in.
			require.NoError(t, c1.Close())
			eventually(t, func() error { return exchange(bg, client, srv.addr) })
			require.NoError(t, echo(c2))
		})
	}
}

func TestLimitConnsPerClientUnlimited(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := serveOn(t, tcp.LimitConnsPerClient(ln, 0))
	var conns []net.Conn
	for range 5 {
		c, err := dial(bg, tcp.Transport{}, srv.addr)
		require.NoError(t, err)
		defer c.Close()
		conns = append(conns, c)
	}
	for _, c := range conns {
		require.NoError(t, echo(c))
	}
}

// TestLimitedConn checks that limited connections are proper net.Conns.
func TestLimitedConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		return pipe(tcp.Transport{MaxConnsPerClient: 1}, tcp.Transport{})
	})
}

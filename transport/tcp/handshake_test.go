package tcp_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/transport/tcp"
)

// holdServer accepts connections on ln and never reads or writes them;
// they are closed when the test ends.
func holdServer(t *testing.T, ln net.Listener) {
	t.Helper()
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
}

func TestHandshakeTimeout(t *testing.T) {
	c := newCluster(t)
	serverCfg := &tls.Config{Certificates: []tls.Certificate{c.server.TLS}, MinVersion: tls.VersionTLS12}
	for name, tr := range map[string]tcp.Transport{
		"material":   {Material: material(t, c.ca, c.server), HandshakeTimeout: 200 * time.Millisecond},
		"tls config": {TLS: serverCfg, HandshakeTimeout: 200 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			// Nothing reads the accepted connections: the transport itself
			// must end the handshakes that do not complete.
			ln, err := tr.Listen("127.0.0.1:0")
			require.NoError(t, err)
			holdServer(t, ln)

			silent, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer silent.Close()

			partial, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer partial.Close()
			// The header of a handshake record, and no record.
			_, err = partial.Write([]byte{0x16, 0x03, 0x01, 0x01, 0x00})
			require.NoError(t, err)

			requireClosedByPeer(t, silent)
			requireClosedByPeer(t, partial)

			// A client that does handshake gets through.
			client := c.clientTransport(t)
			conn, err := dial(bg, client, ln.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
		})
	}
}

func TestHandshakeTimeoutDefault(t *testing.T) {
	require.Equal(t, 5*time.Second, tcp.DefaultHandshakeTimeout)
	require.Equal(t, tcp.DefaultHandshakeTimeout, tcp.HandshakeTimeoutOf(tcp.Transport{}))
	require.Equal(t, 500*time.Millisecond, tcp.HandshakeTimeoutOf(tcp.Transport{HandshakeTimeout: 500 * time.Millisecond}))
	require.Zero(t, tcp.HandshakeTimeoutOf(tcp.Transport{HandshakeTimeout: -1}))
}

// TestDialHandshakeTimeout dials a server that accepts TCP and never
// answers the TLS handshake: Dial gives up after the handshake timeout,
// well before its context ends, with a timeout error of its own.
func TestDialHandshakeTimeout(t *testing.T) {
	ln, err := tcp.Transport{}.Listen("127.0.0.1:0")
	require.NoError(t, err)
	holdServer(t, ln)

	c := newCluster(t)
	client := tcp.Transport{Material: material(t, c.ca, c.client), HandshakeTimeout: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(bg, time.Hour)
	defer cancel()
	_, err = client.Dial(ctx, ln.Addr().String())
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	require.NoError(t, ctx.Err())
}

package inmem_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/transport/inmem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// serveEcho accepts until the listener closes, echoing every connection.
func serveEcho(ln net.Listener) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return done
}

func TestListenDialEcho(t *testing.T) {
	n := inmem.NewNetwork()
	ln, err := n.Transport("server").Listen("server:0")
	require.NoError(t, err)
	require.NotEqual(t, "server:0", ln.Addr().String(), "a :0 port becomes a unique one")
	done := serveEcho(ln)
	c, err := n.Transport("client").Dial(ctx(t), ln.Addr().String())
	require.NoError(t, err)
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
	require.Equal(t, "client", c.LocalAddr().String())
	require.NoError(t, c.Close())
	require.NoError(t, ln.Close())
	<-done
	_, err = ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestDialNoListener(t *testing.T) {
	n := inmem.NewNetwork()
	_, err := n.Transport("a").Dial(ctx(t), "nowhere:1")
	require.ErrorIs(t, err, inmem.ErrConnRefused)
}

func TestPartitionClosesAndRefusesUntilHealed(t *testing.T) {
	n := inmem.NewNetwork()
	ln, err := n.Transport("b:1").Listen("b:1")
	require.NoError(t, err)
	done := serveEcho(ln)
	defer func() { ln.Close(); <-done }()

	c, err := n.Transport("a:1").Dial(ctx(t), "b:1")
	require.NoError(t, err)
	n.Partition("a:1", "b:1")
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err, "existing connections close")
	_, err = n.Transport("a:1").Dial(ctx(t), "b:1")
	require.ErrorIs(t, err, inmem.ErrConnRefused)
	c3, err := n.Transport("c:1").Dial(ctx(t), "b:1")
	require.NoError(t, err, "others still reach b")
	c3.Close()

	n.Heal("a:1", "b:1")
	c2, err := n.Transport("a:1").Dial(ctx(t), "b:1")
	require.NoError(t, err)
	c2.Close()

	n.Isolate("b:1")
	_, err = n.Transport("c:1").Dial(ctx(t), "b:1")
	require.ErrorIs(t, err, inmem.ErrConnRefused)
	n.Rejoin("b:1")
	c4, err := n.Transport("c:1").Dial(ctx(t), "b:1")
	require.NoError(t, err)
	c4.Close()
}

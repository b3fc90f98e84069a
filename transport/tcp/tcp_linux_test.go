package tcp_test

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/transport/tcp"
)

// fullBacklog returns the address of a socket that listens with a backlog
// of zero and never accepts: once one connection waits in its queue, the
// kernel drops further handshakes and connecting to it hangs.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)

	// Fill the queue; a dial that then times out shows it is full.
	for range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		c, err := tcp.Transport{}.Dial(ctx, addr)
		cancel()
		if err != nil {
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Fatalf("the listen queue of %s never filled", addr)
	return ""
}

func TestDialDeadline(t *testing.T) {
	addr := fullBacklog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tcp.Transport{}.Dial(ctx, addr)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	require.True(t, netErr.Timeout())
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestDialCancel(t *testing.T) {
	addr := fullBacklog(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := tcp.Transport{}.Dial(ctx, addr)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Dial did not return after its context was canceled")
	}
}

// Package harness holds what the tests of drover's packages share to run a
// real server and client in one process and to wait for what they do:
// start them on loopback, wait for a condition on every state change,
// shut them down, and talk to a server as a client node does. It is for
// tests only.
package harness

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/structs"
)

// Deadline bounds the harness's own waits (a server's election, a
// client's registration): generous, for a loaded machine.
const Deadline = 60 * time.Second

// Logger discards, unless DROVER_TEST_LOG is set: then it writes debug
// logs to stderr, tagged with the test's name.
func Logger(tb testing.TB) *slog.Logger {
	if os.Getenv("DROVER_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", tb.Name())
}

// StartServer starts a server with opts and waits until it leads. Unset,
// BindAddr and SerfBindAddr are free loopback ports and Logger is
// Logger(tb). The test shuts the server down itself (Shutdown).
func StartServer(tb testing.TB, opts drover.ServerOptions) *drover.Server {
	tb.Helper()
	if opts.BindAddr == "" {
		opts.BindAddr = "127.0.0.1:0"
	}
	if opts.SerfBindAddr == "" && !opts.DisableGossip && opts.Transport == nil {
		opts.SerfBindAddr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = Logger(tb).With("agent", "server")
	}
	srv, err := drover.NewServer(opts)
	if err != nil {
		tb.Fatalf("start server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	if err := srv.WaitForLeader(ctx); err != nil {
		_ = srv.Shutdown(context.Background())
		tb.Fatalf("server did not elect itself: %v", err)
	}
	return srv
}

// StartClient starts a client with opts and waits until it has
// registered. Unset, Logger is Logger(tb). The test shuts the client down
// itself (Shutdown).
func StartClient(tb testing.TB, opts drover.ClientOptions) *drover.Client {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = Logger(tb).With("agent", "client")
	}
	cli, err := drover.NewClient(opts)
	if err != nil {
		tb.Fatalf("start client: %v", err)
	}
	WaitReady(tb, "client registration", cli.Ready())
	return cli
}

// WaitReady waits until ready is closed, failing the test after Deadline.
func WaitReady(tb testing.TB, what string, ready <-chan struct{}) {
	tb.Helper()
	select {
	case <-ready:
	case <-time.After(Deadline):
		tb.Fatalf("timed out after %s waiting for %s", Deadline, what)
	}
}

// Shutdown shuts agents down in order, each within Deadline, failing the
// test if one fails.
func Shutdown(tb testing.TB, agents ...interface{ Shutdown(context.Context) error }) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	for _, a := range agents {
		if err := a.Shutdown(ctx); err != nil {
			tb.Fatalf("shutdown: %v", err)
		}
	}
}

// Indexed is a server whose applied index can be waited on.
type Indexed interface {
	WaitForIndex(ctx context.Context, min uint64) uint64
}

// WaitFor re-checks cond after every state change of srv until it holds,
// failing the test after timeout.
func WaitFor(tb testing.TB, srv Indexed, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var index uint64
	for !cond() {
		if ctx.Err() != nil {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		index = srv.WaitForIndex(ctx, index)
	}
}

// Eventually polls cond every 20ms until it holds, failing the test after
// timeout: for conditions no server's index tells about.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreeAddr returns a loopback address nothing listens on, for a server
// that must come back on the same address.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("pick an address: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatalf("pick an address: %v", err)
	}
	return addr
}

// DialRPC connects to the server at addr over plain TCP, as a client node
// does, for tests that play client nodes (registration, heartbeats). The
// connection closes when the test ends.
func DialRPC(tb testing.TB, addr string) structs.DroverClient {
	tb.Helper()
	return DialRPCOver(tb, tcpDialer{}, addr)
}

// Dialer is what DialRPCOver connects through: a transport.Transport, or
// plain TCP.
type Dialer interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

type tcpDialer struct{}

func (tcpDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// DialRPCOver is DialRPC through d, such as the in-memory network of a
// cluster started with testcluster.Options.InMemory.
func DialRPCOver(tb testing.TB, d Dialer, addr string) structs.DroverClient {
	tb.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(d.Dial))
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = cc.Close() })
	return structs.NewDroverClient(cc)
}

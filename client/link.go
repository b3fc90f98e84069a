package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/internal/streamconn"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport/tcp"
)

// The servers reach a client through a connection the client opens: a
// ClientConnect stream to one server, authenticated by the node's id and
// secret (and, with mutual TLS, by the client's certificate). The stream
// carries a second gRPC connection in the other direction: the server is
// its gRPC client and this client serves the client endpoints on it
// (clientEndpoints), so that streaming calls (logs, exec) work as they do
// between servers. The client needs no listener, and the operator no
// route to it. A broken stream is opened again, to the next server.

// linkAckTimeout bounds the wait for a server's answer to the hello.
const linkAckTimeout = 10 * time.Second

// serverLink keeps the client's connection to a server.
type serverLink struct {
	c         *Client
	grpc      *grpc.Server
	ln        *streamconn.Listener
	startedAt int64
	attempt   atomic.Uint64

	aclEnabled atomic.Bool
	acked      atomic.Bool

	mu      sync.Mutex
	server  string
	changed chan struct{}
}

func newServerLink(c *Client) *serverLink {
	l := &serverLink{
		c: c, startedAt: c.clock.Now().UnixNano(), changed: make(chan struct{}),
		ln: streamconn.NewListener(streamconn.Addr("client:" + c.id.NodeID)),
	}
	l.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(16<<20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	structs.RegisterDroverServer(l.grpc, &clientEndpoints{c: c})
	go func() { _ = l.grpc.Serve(l.ln) }()
	return l
}

// stop ends the endpoints' service; the link's loop has ended already.
func (l *serverLink) stop() {
	l.ln.Close()
	l.grpc.Stop()
}

// Connected returns the address of the server the client is connected to
// ("" when none) and a channel closed when that changes.
func (l *serverLink) connected() (string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.server, l.changed
}

func (l *serverLink) setServer(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.server = addr
	close(l.changed)
	l.changed = make(chan struct{})
}

// run keeps a connection open until ctx ends, moving to the next server
// when one fails.
func (l *serverLink) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		addr := l.c.servers.currentAddr()
		began := l.c.clock.Now()
		err := l.connect(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		l.c.servers.rotate(addr)
		if clock.Since(l.c.clock, began) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		l.c.logger.Debug("connection to the servers ended; opening another", "server", addr, "error", err, "in", backoff)
		if !clock.Sleep(ctx, l.c.clock, backoff) {
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// connect opens a connection to addr and serves it until it breaks.
func (l *serverLink) connect(ctx context.Context, addr string) error {
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(tcp.GRPCCredentials(0)),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			if l.c.servers.serverName != "" {
				ctx = tcp.WithServerName(ctx, l.c.servers.serverName)
			}
			return l.c.servers.transport.Dial(ctx, a)
		}),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: 5 * time.Second}),
		// A server that vanishes without closing the connection is noticed.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
	)
	if err != nil {
		return err
	}
	defer cc.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := structs.NewDroverClient(cc).ClientConnect(sctx)
	if err != nil {
		return err
	}
	hello := &structs.ClientConnectHello{
		NodeId: l.c.id.NodeID, SecretId: l.c.id.SecretID, StartedAt: l.startedAt, Attempt: l.attempt.Add(1),
	}
	if err := stream.Send(&structs.ClientConnectFrame{Hello: hello}); err != nil {
		return err
	}
	timer := l.c.clock.AfterFunc(linkAckTimeout, cancel)
	first, err := stream.Recv()
	timer.Stop()
	if err != nil {
		return err
	}
	if first.GetAck() == nil {
		return errors.New("the server did not acknowledge the connection")
	}
	l.aclEnabled.Store(first.Ack.AclEnabled)
	l.acked.Store(true)
	conn := streamconn.New(stream, cancel, streamconn.Addr("client:"+l.c.id.NodeID), streamconn.Addr(addr))
	defer conn.Close()
	if err := l.ln.Offer(conn); err != nil {
		return err
	}
	l.setServer(addr)
	defer l.setServer("")
	l.c.logger.Info("connected to a server for client endpoints", "server", addr)
	select {
	case <-conn.Broken():
		return fmt.Errorf("connection to %s broken", addr)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// currentAddr is the server calls go to now.
func (s *serverConns) currentAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.servers[s.current%len(s.servers)]
}

// ServerConnection returns the address of the server that holds this
// client's connection, "" while there is none, and a channel closed when
// that changes. Through that connection the servers reach the client's
// endpoints (logs, file system, exec, task restarts and signals, stats).
func (c *Client) ServerConnection() (string, <-chan struct{}) { return c.link.connected() }

// WaitServerConnection waits until the client holds a connection to a
// server, or ctx ends.
func (c *Client) WaitServerConnection(ctx context.Context) error {
	for {
		addr, changed := c.link.connected()
		if addr != "" {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return structs.ErrShutdown
		}
	}
}

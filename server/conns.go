package server

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport"
)

// connPool keeps one gRPC connection per server address, for raft traffic
// and for calls forwarded to the leader. Connections reconnect with a short
// back-off, so a server that comes back is reached again within a second.
type connPool struct {
	transport transport.Transport

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func newConnPool(t transport.Transport) *connPool {
	return &connPool{transport: t, conns: map[string]*grpc.ClientConn{}}
}

// get returns the connection to addr, creating it if needed.
func (p *connPool) get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrShutdown
	}
	if cc := p.conns[addr]; cc != nil {
		return cc, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return p.transport.Dial(ctx, a)
		}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 5 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRPCMessage), grpc.MaxCallSendMsgSize(maxRPCMessage)),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	p.conns[addr] = cc
	return cc, nil
}

// ready returns a client of addr once its connection is up. It fails
// without sending anything when the server cannot be reached, so a caller
// knows a request it then sends was not sent before.
func (p *connPool) ready(ctx context.Context, addr string) (structs.DroverClient, error) {
	cc, err := p.get(addr)
	if err != nil {
		return nil, err
	}
	cc.Connect()
	for {
		st := cc.GetState()
		switch st {
		case connectivity.Ready:
			return structs.NewDroverClient(cc), nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			return nil, fmt.Errorf("%w: server %s unreachable", errUnreachable, addr)
		}
		if !cc.WaitForStateChange(ctx, st) {
			return nil, fmt.Errorf("%w: server %s: %w", errUnreachable, addr, ctx.Err())
		}
	}
}

// close closes every connection; later calls fail with ErrShutdown.
func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for a, cc := range p.conns {
		_ = cc.Close()
		delete(p.conns, a)
	}
}

// maxRPCMessage bounds one RPC message between agents.
const maxRPCMessage = 16 << 20

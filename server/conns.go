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
	"google.golang.org/grpc/keepalive"

	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/tcp"
)

// connPool keeps one gRPC connection per server address, for raft traffic
// and for calls forwarded to the leader or to other regions. Connections
// reconnect with a short back-off, so a server that comes back is reached
// again within a second.
type connPool struct {
	transport transport.Transport
	// region is this server's region; with verifyNames, a server dialed
	// must prove it is a server of the region it is dialed for.
	region      string
	verifyNames bool

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func newConnPool(t transport.Transport, region string, verifyNames bool) *connPool {
	return &connPool{transport: t, region: region, verifyNames: verifyNames, conns: map[string]*grpc.ClientConn{}}
}

// getIn returns the connection to addr, a server of region ("" for this
// one), creating it if needed.
func (p *connPool) getIn(addr, region string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrShutdown
	}
	if cc := p.conns[addr]; cc != nil {
		return cc, nil
	}
	if region == "" {
		region = p.region
	}
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(tcp.GRPCCredentials(0)),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			if p.verifyNames {
				ctx = tcp.WithServerName(ctx, tcp.ServerName(region))
			}
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
	return p.readyIn(ctx, addr, "")
}

// Dial is ready: it connects the raft node to its peers.
func (p *connPool) Dial(ctx context.Context, addr string) (structs.DroverClient, error) {
	return p.ready(ctx, addr)
}

// readyIn is ready for a server of region ("" for this one).
func (p *connPool) readyIn(ctx context.Context, addr, region string) (structs.DroverClient, error) {
	cc, err := p.getIn(addr, region)
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

package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/internal/streamconn"
	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// A client keeps one connection open to a server (ClientConnect), over
// which that server calls the client's endpoints. The server keeps the
// connections it holds in nodeConns, keyed by the node id the connection
// authenticated with its node secret: a node can only ever register its
// own connection, and nothing arriving from a node's side of it is
// served (the server is the connection's gRPC client, never its server).

// helloTimeout bounds the wait for a connecting client's hello.
const helloTimeout = 10 * time.Second

// nodeConn is one client's connection, held by this server.
type nodeConn struct {
	nodeID    string
	startedAt int64
	attempt   uint64
	cc        *grpc.ClientConn
	client    structs.DroverClient
	conn      *streamconn.Conn
}

// newer reports whether n is a later connection of its node than o.
func (n *nodeConn) newer(o *nodeConn) bool {
	return n.startedAt > o.startedAt || n.startedAt == o.startedAt && n.attempt > o.attempt
}

// nodeConns holds the connections of the clients connected to this server.
type nodeConns struct {
	mu    sync.Mutex
	conns map[string]*nodeConn
}

func newNodeConns() *nodeConns { return &nodeConns{conns: map[string]*nodeConn{}} }

// add records nc, closing the node's older connection; a connection older
// than the one held is refused.
func (r *nodeConns) add(nc *nodeConn) bool {
	r.mu.Lock()
	old := r.conns[nc.nodeID]
	if old != nil && old.newer(nc) {
		r.mu.Unlock()
		return false
	}
	r.conns[nc.nodeID] = nc
	r.mu.Unlock()
	if old != nil {
		old.conn.Close()
	}
	return true
}

// remove forgets nc, unless the node has connected again since.
func (r *nodeConns) remove(nc *nodeConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[nc.nodeID] == nc {
		delete(r.conns, nc.nodeID)
	}
}

func (r *nodeConns) get(nodeID string) *nodeConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[nodeID]
}

// count is how many clients are connected to this server.
func (r *nodeConns) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// ClientConnect serves a client's connection until it breaks, the client
// connects again, or the server stops.
func (r *rpcServer) ClientConnect(stream structs.Drover_ClientConnectServer) error {
	s := r.s
	ctx := stream.Context()
	hello, err := recvHello(ctx, stream)
	if err != nil {
		return err
	}
	if _, err := s.authNode(hello.NodeId, hello.SecretId); err != nil {
		// A node registered moments ago may not have reached this server.
		if !errors.Is(err, ErrNotFound) {
			return rpcerr.To(err)
		}
		if berr := s.readBarrier(ctx); berr != nil {
			return rpcerr.To(berr)
		}
		if _, err := s.authNode(hello.NodeId, hello.SecretId); err != nil {
			return rpcerr.To(err)
		}
	}
	if err := stream.Send(&structs.ClientConnectFrame{Ack: &structs.ClientConnectAck{
		AclEnabled: s.cfg.ACL.Enabled, ServerName: s.cfg.Name,
	}}); err != nil {
		return err
	}
	remote := streamconn.Addr("node:" + hello.NodeId)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = streamconn.Addr(p.Addr.String())
	}
	ended := make(chan struct{})
	var endOnce sync.Once
	conn := streamconn.New(stream, func() { endOnce.Do(func() { close(ended) }) }, streamconn.Addr(s.self.Addr), remote)
	defer conn.Close()
	var used atomic.Bool
	cc, err := grpc.NewClient("passthrough:///node-"+hello.NodeId,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			if used.Swap(true) {
				return nil, errors.New("the node's connection is gone")
			}
			return conn, nil
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRPCMessage), grpc.MaxCallSendMsgSize(maxRPCMessage)),
	)
	if err != nil {
		return rpcerr.To(err)
	}
	defer cc.Close()
	cc.Connect()
	nc := &nodeConn{
		nodeID: hello.NodeId, startedAt: hello.StartedAt, attempt: hello.Attempt,
		cc: cc, client: structs.NewDroverClient(cc), conn: conn,
	}
	if !s.nodeConns.add(nc) {
		return rpcerr.To(fmt.Errorf("%w: a newer connection of node %s is open", ErrBadRequest, structs.Quote(hello.NodeId)))
	}
	defer s.nodeConns.remove(nc)
	s.logger.Debug("client connected", "node", hello.NodeId, "remote", remote.String())
	select {
	case <-ended:
	case <-conn.Broken():
	case <-ctx.Done():
	case <-s.stopCtx.Done():
	}
	s.logger.Debug("client connection closed", "node", hello.NodeId)
	return nil
}

// recvHello reads a connecting client's first frame, within helloTimeout.
func recvHello(ctx context.Context, stream structs.Drover_ClientConnectServer) (*structs.ClientConnectHello, error) {
	type result struct {
		f   *structs.ClientConnectFrame
		err error
	}
	got := make(chan result, 1)
	go func() {
		f, err := stream.Recv()
		got <- result{f, err}
	}()
	timer := time.NewTimer(helloTimeout) // a network deadline, like the RPC contexts' ones
	defer timer.Stop()
	select {
	case res := <-got:
		if res.err != nil {
			return nil, res.err
		}
		h := res.f.GetHello()
		if h.GetNodeId() == "" || h.GetSecretId() == "" {
			return nil, rpcerr.To(fmt.Errorf("%w: a client connection starts with the node's id and secret", ErrBadRequest))
		}
		return h, nil
	case <-timer.C:
		return nil, rpcerr.To(fmt.Errorf("%w: no hello within %s", ErrBadRequest, helloTimeout))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// NodeConnHolder tells another server whether this one holds a node's
// connection.
func (r *rpcServer) NodeConnHolder(_ context.Context, req *structs.NodeConnRequest) (*structs.NodeConnResponse, error) {
	nc := r.s.nodeConns.get(req.GetNodeId())
	if nc == nil {
		return &structs.NodeConnResponse{}, nil
	}
	return &structs.NodeConnResponse{Held: true, StartedAt: nc.startedAt, Attempt: nc.attempt}, nil
}

// ClientAuthorize checks, for a client serving its own HTTP API, that a
// token grants what a call needs. The client proves it is a node with its
// secret; the answer says only yes or no.
func (r *rpcServer) ClientAuthorize(ctx context.Context, req *structs.ClientAuthorizeRequest) (*structs.ClientAuthorizeResponse, error) {
	s := r.s
	ctx = callCtx(ctx, nil)
	if _, err := s.authNode(req.GetNodeId(), req.GetSecretId()); err != nil {
		return nil, rpcerr.To(err)
	}
	ctx = WithToken(ctx, req.GetToken())
	var err error
	switch {
	case req.GetNodeRead():
		err = s.allow(ctx, "node read", (*acl.ACL).AllowNodeRead)
	case req.GetAgentRead():
		err = s.allow(ctx, "agent read", (*acl.ACL).AllowAgentRead)
	case len(req.GetCapabilities()) == 0:
		err = fmt.Errorf("%w: no capability to check", ErrBadRequest)
	case req.GetAnyOf():
		err = s.allowNamespace(ctx, req.GetNamespace(), req.GetCapabilities()...)
	default:
		for _, c := range req.GetCapabilities() {
			if err = s.allowNamespace(ctx, req.GetNamespace(), c); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.ClientAuthorizeResponse{AclEnabled: s.cfg.ACL.Enabled}, nil
}

package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/tcp"
)

// serverConns keeps one RPC connection per known server and fails over to
// the next server when the current one is unreachable or not the leader.
type serverConns struct {
	transport transport.Transport
	// serverName, when set, is the name a server's certificate must carry
	// (server.<region>.nomad, with verify_server_hostname).
	serverName string

	mu      sync.Mutex
	servers []string
	current int
	conns   map[string]*grpc.ClientConn
}

func newServerConns(t transport.Transport, servers []string, serverName string) *serverConns {
	return &serverConns{transport: t, serverName: serverName, servers: append([]string(nil), servers...), conns: map[string]*grpc.ClientConn{}}
}

// setServers replaces the list of servers (from a heartbeat reply), keeping
// the configured ones as a fallback.
func (s *serverConns) setServers(servers []string) {
	if len(servers) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var merged []string
	for _, a := range append(append([]string(nil), servers...), s.servers...) {
		if !seen[a] {
			seen[a] = true
			merged = append(merged, a)
		}
	}
	cur := s.servers[s.current%len(s.servers)]
	s.servers = merged
	s.current = 0
	for i, a := range merged {
		if a == cur {
			s.current = i
		}
	}
}

func (s *serverConns) conn() (structs.DroverClient, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := s.servers[s.current%len(s.servers)]
	cc := s.conns[addr]
	if cc == nil {
		var err error
		cc, err = grpc.NewClient("passthrough:///"+addr,
			grpc.WithTransportCredentials(tcp.GRPCCredentials(0)),
			grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
				if s.serverName != "" {
					ctx = tcp.WithServerName(ctx, s.serverName)
				}
				return s.transport.Dial(ctx, a)
			}),
		)
		if err != nil {
			return nil, addr, fmt.Errorf("connect to %s: %w", addr, err)
		}
		s.conns[addr] = cc
	}
	return structs.NewDroverClient(cc), addr, nil
}

// rotate moves to the next server after addr failed.
func (s *serverConns) rotate(failed string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.servers[s.current%len(s.servers)] == failed {
		s.current = (s.current + 1) % len(s.servers)
	}
}

// call runs fn against the current server, mapping errors back to drover's
// sentinels. A server that fails for any reason but an answer about the
// request itself (unreachable, not the leader, no leader, timed out) is
// rotated away from, so the retry goes to the next one.
func call[T any](ctx context.Context, s *serverConns, fn func(context.Context, structs.DroverClient) (T, error)) (T, error) {
	var zero T
	c, addr, err := s.conn()
	if err != nil {
		return zero, err
	}
	resp, err := fn(ctx, c)
	if err != nil {
		err = rpcerr.From(err)
		if !answered(err) && ctx.Err() == nil || errors.Is(err, structs.ErrNotLeader) || errors.Is(err, structs.ErrNoLeader) {
			s.rotate(addr)
		}
		return zero, err
	}
	return resp, nil
}

// answered reports an error that is the servers' answer to the request,
// which another server would give too.
func answered(err error) bool {
	return errors.Is(err, structs.ErrNotFound) || errors.Is(err, structs.ErrPermissionDenied) ||
		errors.Is(err, structs.ErrBadRequest) || errors.Is(err, structs.ErrValidation)
}

func (s *serverConns) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, cc := range s.conns {
		_ = cc.Close()
		delete(s.conns, a)
	}
}

// serverNameFor is the name servers must prove, or "" for no check.
func serverNameFor(cfg Config) string {
	if !cfg.VerifyServerName {
		return ""
	}
	region := cfg.Region
	if region == "" {
		region = "global"
	}
	return tcp.ServerName(region)
}

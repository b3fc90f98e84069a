package tcp_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/droverhq/drover/transport/tcp"
)

// rpcServer is a gRPC server with the health service on a Transport's
// listener. An interceptor records the AuthInfo of each call and, as a
// server would for raft, lets TLS peers in only with a server's name.
type rpcServer struct {
	addr string
	ln   net.Listener

	mu   sync.Mutex
	seen []credentials.AuthInfo
}

func serveRPC(t *testing.T, tr tcp.Transport) *rpcServer {
	t.Helper()
	ln, err := tr.Listen("127.0.0.1:0")
	require.NoError(t, err)
	s := &rpcServer{addr: ln.Addr().String(), ln: ln}
	gs := grpc.NewServer(
		grpc.Creds(tcp.GRPCCredentials(wait)),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			p, ok := peer.FromContext(ctx)
			if !ok {
				return nil, status.Error(codes.Internal, "no peer")
			}
			s.mu.Lock()
			s.seen = append(s.seen, p.AuthInfo)
			s.mu.Unlock()
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && !tcp.HasName(ti.State, tcp.ServerName("global")) {
				return nil, status.Errorf(codes.PermissionDenied, "certificate for %v, not a server of global", tcp.PeerNames(ti.State))
			}
			return h(ctx, req)
		}),
	)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(ln)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return s
}

// lastSeen returns the AuthInfo of the last call the server saw.
func (s *rpcServer) lastSeen(t *testing.T) credentials.AuthInfo {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.seen)
	return s.seen[len(s.seen)-1]
}

// rpcClient connects to addr over tr as the server's connection pool
// would, requiring serverName of the server when it is not empty.
func rpcClient(t *testing.T, tr tcp.Transport, addr, serverName string) healthpb.HealthClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(tcp.GRPCCredentials(wait)),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			if serverName != "" {
				ctx = tcp.WithServerName(ctx, serverName)
			}
			return tr.Dial(ctx, a)
		}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: 2 * time.Second,
		}),
	)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return healthpb.NewHealthClient(cc)
}

func check(hc healthpb.HealthClient, opts ...grpc.CallOption) error {
	ctx, cancel := context.WithTimeout(bg, wait)
	defer cancel()
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, opts...)
	return err
}

func TestGRPCCredentials(t *testing.T) {
	c := newCluster(t)
	srv := serveRPC(t, c.serverTransport(t))

	t.Run("server certificate", func(t *testing.T) {
		var p peer.Peer
		hc := rpcClient(t, tcp.Transport{Material: material(t, c.ca, c.server)}, srv.addr, tcp.ServerName("global"))
		require.NoError(t, check(hc, grpc.Peer(&p)))

		ti, ok := srv.lastSeen(t).(credentials.TLSInfo)
		require.True(t, ok)
		require.Equal(t, credentials.PrivacyAndIntegrity, ti.SecurityLevel)
		require.Equal(t, []string{"server.global.nomad", "client.global.nomad"}, tcp.PeerNames(ti.State))

		// The client sees the server's certificate.
		ci, ok := p.AuthInfo.(credentials.TLSInfo)
		require.True(t, ok)
		require.Equal(t, credentials.PrivacyAndIntegrity, ci.SecurityLevel)
		require.True(t, ci.State.PeerCertificates[0].Equal(c.server.Cert))
	})

	t.Run("client certificate", func(t *testing.T) {
		hc := rpcClient(t, c.clientTransport(t), srv.addr, tcp.ServerName("global"))
		err := check(hc)
		require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
		ti, ok := srv.lastSeen(t).(credentials.TLSInfo)
		require.True(t, ok)
		require.Equal(t, []string{"client.global.nomad"}, tcp.PeerNames(ti.State))
	})

	t.Run("wrong server name", func(t *testing.T) {
		hc := rpcClient(t, c.clientTransport(t), srv.addr, tcp.ServerName("other"))
		err := check(hc)
		require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
		require.ErrorContains(t, err, "server.other.nomad")
	})
}

func TestGRPCCredentialsPlain(t *testing.T) {
	srv := serveRPC(t, tcp.Transport{})
	var p peer.Peer
	require.NoError(t, check(rpcClient(t, tcp.Transport{}, srv.addr, ""), grpc.Peer(&p)))
	for _, ai := range []credentials.AuthInfo{srv.lastSeen(t), p.AuthInfo} {
		require.Equal(t, "insecure", ai.AuthType())
		ci, ok := ai.(interface {
			GetCommonAuthInfo() credentials.CommonAuthInfo
		})
		require.True(t, ok)
		require.Equal(t, credentials.NoSecurity, ci.GetCommonAuthInfo().SecurityLevel)
	}
}

package bench

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/internal/testing/tlstest"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport/tcp"
)

// securityModes are the settings the security benchmarks compare.
var securityModes = []struct {
	name     string
	tls, acl bool
}{{"plain", false, false}, {"mtls", true, false}, {"mtls+acl", true, true}}

// serverTLS returns TLS options with a fresh server certificate of ca.
func serverTLS(b *testing.B, ca *tlstest.CA) *drover.TLSOptions {
	leaf := ca.Issue(b, "server.global.nomad", "client.global.nomad")
	return &drover.TLSOptions{RPC: true, CAPEM: ca.PEM, CertPEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM, VerifyServerHostname: true}
}

// BenchmarkRaftWritesSecured is BenchmarkRaftWrites/writers=256 with
// mutual TLS between the servers, and with ACLs on and every write made
// with a client token (resolved and checked on each call).
func BenchmarkRaftWritesSecured(b *testing.B) {
	for _, mode := range securityModes {
		b.Run(mode.name, func(b *testing.B) {
			ca := tlstest.NewCA(b)
			c := testcluster.New(b, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) {
				o.NumSchedulers = drover.NoSchedulers
				if mode.tls {
					o.TLS = serverTLS(b, ca)
				}
				o.ACL.Enabled = mode.acl
			}})
			leader := c.WaitLeader(30 * time.Second).Server()
			ctx := context.Background()
			if mode.acl {
				if _, err := leader.UpsertACLPolicies(ctx, []*drover.ACLPolicy{{Name: "w", Rules: `namespace "default" { policy = "write" }`}}); err != nil {
					b.Fatal(err)
				}
				toks, err := leader.UpsertACLTokens(ctx, []*drover.ACLToken{{Policies: []string{"w"}}})
				if err != nil {
					b.Fatal(err)
				}
				ctx = drover.WithToken(ctx, toks[0].SecretId)
			}
			raftWrites(b, ctx, leader, 256)
		})
	}
}

// BenchmarkHeartbeatsSecured is BenchmarkHeartbeats/nodes=10000 over
// mutual TLS with verify_server_hostname (each call's peer certificate
// checked for its role), and with ACLs on as well.
func BenchmarkHeartbeatsSecured(b *testing.B) {
	const nodes = 10000
	for _, mode := range securityModes {
		b.Run(mode.name, func(b *testing.B) {
			ca := tlstest.NewCA(b)
			opts := drover.ServerOptions{DataDir: b.TempDir(), BindAddr: "127.0.0.1:0", NumSchedulers: drover.NoSchedulers}
			var tr tcp.Transport
			if mode.tls {
				opts.TLS = serverTLS(b, ca)
				leaf := ca.Issue(b, "client.global.nomad")
				m, err := tcp.LoadMaterial(tcp.MaterialSource{CAPEM: ca.PEM, CertPEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM})
				if err != nil {
					b.Fatal(err)
				}
				tr.Material = m
			}
			opts.ACL.Enabled = mode.acl
			srv, err := drover.NewServer(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Shutdown(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := srv.WaitForLeader(ctx); err != nil {
				b.Fatal(err)
			}
			conns := make([]structs.DroverClient, 8)
			for i := range conns {
				cc, err := grpc.NewClient("passthrough:///"+srv.Addr(),
					grpc.WithTransportCredentials(tcp.GRPCCredentials(0)),
					grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
						return tr.Dial(tcp.WithServerName(ctx, tcp.ServerName("global")), a)
					}))
				if err != nil {
					b.Fatal(err)
				}
				defer cc.Close()
				conns[i] = structs.NewDroverClient(cc)
			}
			heartbeats(b, ctx, conns, nodes)
		})
	}
}

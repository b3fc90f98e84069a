package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
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
			const writers = 256
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						job := benchJob(1)
						job.Id = fmt.Sprintf("job-%d", i)
						if _, err := leader.RegisterJob(ctx, job); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
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
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(64)
			for i := range nodes {
				g.Go(func() error {
					_, err := conns[i%len(conns)].RegisterNode(gctx, &structs.NodeRegisterRequest{Node: simNode(i)})
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			var once sync.Once
			b.SetParallelism(16)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1)) % nodes
					_, err := conns[i%len(conns)].Heartbeat(context.Background(), &structs.NodeHeartbeatRequest{
						NodeId: nodeID(i), SecretId: "secret-" + nodeID(i),
					})
					if err != nil {
						once.Do(func() { b.Error(err) })
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "heartbeats/s")
		})
	}
}

package drover_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/internal/testing/tlstest"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport/tcp"
)

// tlsFiles is one agent's certificate material as files that a test can
// rewrite to rotate it.
type tlsFiles struct{ ca, cert, key string }

func writeTLSFiles(t *testing.T, dir string, caPEM []byte, leaf *tlstest.Leaf) tlsFiles {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	f := tlsFiles{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	f.write(t, caPEM, leaf)
	return f
}

func (f tlsFiles) write(t *testing.T, caPEM []byte, leaf *tlstest.Leaf) {
	t.Helper()
	require.NoError(t, os.WriteFile(f.ca, caPEM, 0o600))
	require.NoError(t, os.WriteFile(f.cert, leaf.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(f.key, leaf.KeyPEM, 0o600))
}

func (f tlsFiles) options(verify bool) *drover.TLSOptions {
	return &drover.TLSOptions{RPC: true, CAFile: f.ca, CertFile: f.cert, KeyFile: f.key, VerifyServerHostname: verify}
}

// tlsCluster starts three servers with mutual TLS, each with its own
// server certificate files.
func tlsCluster(t *testing.T, ca *tlstest.CA, verify bool) (*testcluster.Cluster, []tlsFiles) {
	c, files, _ := tlsClusterWithMetrics(t, ca, verify)
	return c, files
}

// tlsClusterWithMetrics is tlsCluster that also returns each server's
// metrics registry.
func tlsClusterWithMetrics(t *testing.T, ca *tlstest.CA, verify bool) (*testcluster.Cluster, []tlsFiles, []*prometheus.Registry) {
	t.Helper()
	files := make([]tlsFiles, 3)
	regs := make([]*prometheus.Registry, 3)
	for i := range files {
		files[i] = writeTLSFiles(t, filepath.Join(t.TempDir(), fmt.Sprint(i)), ca.PEM, ca.Issue(t, "server.global.nomad"))
		regs[i] = prometheus.NewRegistry()
	}
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(i int, o *drover.ServerOptions) {
		if i < len(files) {
			o.TLS, o.Registerer = files[i].options(verify), regs[i]
		}
	}})
	return c, files, regs
}

// rpcAs dials a server as a peer holding leaf (nil: plain TCP).
func rpcAs(t *testing.T, addr string, ca *tlstest.CA, leaf *tlstest.Leaf) structs.DroverClient {
	t.Helper()
	var tr tcp.Transport
	if leaf != nil {
		m, err := tcp.LoadMaterial(tcp.MaterialSource{CAPEM: ca.PEM, CertPEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM})
		require.NoError(t, err)
		tr.Material = m
	}
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(tcp.GRPCCredentials(0)),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return tr.Dial(ctx, a) }))
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	return structs.NewDroverClient(cc)
}

func TestMutualTLSClusterRunsAClientsWork(t *testing.T) {
	ca := tlstest.NewCA(t)
	c, _ := tlsCluster(t, ca, true)
	leader := c.WaitLeader(30 * time.Second)
	var servers []string
	for _, m := range c.Members() {
		servers = append(servers, m.Addr)
	}
	leaf := ca.Issue(t, "client.global.nomad")
	cf := writeTLSFiles(t, t.TempDir(), ca.PEM, leaf)
	cli, err := drover.NewClient(drover.ClientOptions{DataDir: t.TempDir(), Servers: servers, TLS: cf.options(true),
		Drivers: []drover.Driver{mock.New(nil)}, Logger: harness.Logger(t)})
	require.NoError(t, err)
	defer harness.Shutdown(t, cli)
	select {
	case <-cli.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("the client did not register over mutual TLS")
	}
	srv := leader.Server()
	ctx := context.Background()
	_, err = srv.RegisterJob(ctx, serviceJob(t, "web", 2))
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "both allocations running", func() bool { return allocsByStatus(t, srv, "web")["running"] == 2 })
	// A write sent to a follower is forwarded to the leader over TLS.
	for _, m := range c.Running() {
		if m != leader {
			_, err := m.Server().RegisterJob(ctx, batchJob("via-"+m.Name))
			require.NoError(t, err)
		}
	}
}

// TestRPCRefusesCertificatesOfTheWrongRoleOrRegion is the regression test
// of Nomad's CVE-2020-7956: a certificate the CA signed is not enough;
// with verify_server_hostname it must be for the role and region the call
// needs.
func TestRPCRefusesCertificatesOfTheWrongRoleOrRegion(t *testing.T) {
	ca := tlstest.NewCA(t)
	c, _ := tlsCluster(t, ca, true)
	leader := c.WaitLeader(30 * time.Second)
	addr := leader.Addr
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	serverInfo := func(rpc structs.DroverClient) error {
		_, err := rpc.ServerInfo(ctx, &structs.ServerInfoRequest{})
		return err
	}
	heartbeat := func(rpc structs.DroverClient) error {
		_, err := rpc.Heartbeat(ctx, &structs.NodeHeartbeatRequest{NodeId: "nobody", SecretId: "x"})
		return err
	}
	denied := func(err error) bool { return errors.Is(rpcerr.From(err), drover.ErrPermissionDenied) }

	clientLeaf := ca.Issue(t, "client.global.nomad")
	require.True(t, denied(serverInfo(rpcAs(t, addr, ca, clientLeaf))), "a client certificate takes no part in raft")
	otherRegion := ca.Issue(t, "server.europe.nomad", "client.europe.nomad")
	require.True(t, denied(serverInfo(rpcAs(t, addr, ca, otherRegion))), "a server of another region takes no part in raft")
	require.True(t, denied(heartbeat(rpcAs(t, addr, ca, otherRegion))), "nor makes node calls here")
	other := tlstest.NewCA(t)
	err := serverInfo(rpcAs(t, addr, other, other.Issue(t, "server.global.nomad")))
	require.Error(t, err, "another CA's certificate")
	require.Equal(t, codes.Unavailable, status.Code(err), "refused at the handshake: %v", err)
	err = serverInfo(rpcAs(t, addr, nil, nil))
	require.Equal(t, codes.Unavailable, status.Code(err), "plain TCP against a TLS cluster: %v", err)

	// The right certificates are accepted.
	require.NoError(t, serverInfo(rpcAs(t, addr, ca, ca.Issue(t, "server.global.nomad"))))
	err = heartbeat(rpcAs(t, addr, ca, clientLeaf))
	require.False(t, denied(err) && !errors.Is(rpcerr.From(err), drover.ErrNotFound), "a client certificate makes node calls: %v", err)
	require.NotContains(t, fmt.Sprint(err), "certificate refused")
}

// TestVerifyServerHostnameOffAcceptsAnyCertificateOfTheCA is the switch
// off: without verify_server_hostname any certificate of the CA may take
// any role, but another CA's is still refused.
func TestVerifyServerHostnameOffAcceptsAnyCertificateOfTheCA(t *testing.T) {
	ca := tlstest.NewCA(t)
	c, _ := tlsCluster(t, ca, false)
	leader := c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := rpcAs(t, leader.Addr, ca, ca.Issue(t, "client.global.nomad")).ServerInfo(ctx, &structs.ServerInfoRequest{})
	require.NoError(t, err)
	other := tlstest.NewCA(t)
	_, err = rpcAs(t, leader.Addr, other, other.Issue(t, "server.global.nomad")).ServerInfo(ctx, &structs.ServerInfoRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err))
}

// TestAServerWithAClientCertificateCannotJoin: a fourth server holding
// only a client certificate is refused by the cluster and never becomes
// a raft peer.
func TestAServerWithAClientCertificateCannotJoin(t *testing.T) {
	ca := tlstest.NewCA(t)
	c, _, regs := tlsClusterWithMetrics(t, ca, true)
	leader := c.WaitLeader(30 * time.Second)
	impostor := writeTLSFiles(t, t.TempDir(), ca.PEM, ca.Issue(t, "client.global.nomad"))
	// The impostor asks the cluster's servers about themselves, to join
	// them; the servers count and refuse each attempt.
	_, err := c.AddServer(func(o *drover.ServerOptions) { o.TLS = impostor.options(true) })
	require.NoError(t, err)
	harness.Eventually(t, 30*time.Second, "the cluster to refuse the impostor", func() bool {
		return refusedPeers(t, regs) > 0
	})
	harness.Eventually(t, 30*time.Second, "the leader to see the impostor in the gossip pool", func() bool {
		for _, m := range leader.Server().Members() {
			if m.Name == "server-3.global" && m.Status == "alive" {
				return true
			}
		}
		return false
	})
	peers, err := leader.Server().RaftConfiguration(context.Background())
	require.NoError(t, err)
	require.Len(t, peers, 3, "the impostor is no raft peer")
}

// refusedPeers sums the RPCs the first three servers refused for a
// certificate, from their metrics.
func refusedPeers(t *testing.T, regs []*prometheus.Registry) int {
	n := 0
	for _, g := range regs {
		fams, err := g.Gather()
		require.NoError(t, err)
		for _, f := range fams {
			if f.GetName() == "drover_server_rpc_peers_refused_total" {
				n += int(f.GetMetric()[0].GetCounter().GetValue())
			}
		}
	}
	return n
}

func TestANodeOfAnotherRegionIsRefused(t *testing.T) {
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: t.TempDir()})
	defer harness.Shutdown(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc, err := grpc.NewClient("passthrough:///"+srv.Addr(), grpc.WithTransportCredentials(tcp.GRPCCredentials(0)))
	require.NoError(t, err)
	defer cc.Close()
	rpc := structs.NewDroverClient(cc)
	node := &structs.Node{Id: "6a1e0b3c-0000-4000-8000-000000000001", SecretId: "s", Name: "eu-node", Region: "europe", Datacenter: "dc1"}
	_, err = rpc.RegisterNode(ctx, &structs.NodeRegisterRequest{Node: node})
	require.ErrorIs(t, rpcerr.From(err), drover.ErrPermissionDenied)
	node.Region = "global"
	_, err = rpc.RegisterNode(ctx, &structs.NodeRegisterRequest{Node: node})
	require.NoError(t, err, "the same node in the server's region")
	n, err := srv.Node(ctx, node.Id)
	require.NoError(t, err)
	require.Equal(t, "global", n.Region, "the node's region is recorded")
}

// TestCertificateRotationUnderWriteLoadLosesNoWrite rotates every
// server's CA and certificate in three steps (both CAs trusted, new
// certificates, old CA dropped) while writers register jobs, and checks
// that every acknowledged registration is there at the end.
func TestCertificateRotationUnderWriteLoadLosesNoWrite(t *testing.T) {
	oldCA := tlstest.NewCA(t)
	c, files := tlsCluster(t, oldCA, true)
	c.WaitLeader(30 * time.Second)
	newCA := tlstest.NewCA(t)
	both := append(append([]byte{}, oldCA.PEM...), newCA.PEM...)

	ctx, stop := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		acked []string
		seq   atomic.Int64
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				running := c.Running()
				m := running[int(seq.Load())%len(running)]
				id := fmt.Sprintf("rot-%d-%d", w, seq.Add(1))
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := m.Server().RegisterJob(wctx, batchJob(id))
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	reloadAll := func(step string) {
		for i, m := range c.Running() {
			require.NoError(t, m.Server().Reload(), "%s: server %d", step, i)
		}
		before := ackedCount()
		harness.Eventually(t, 30*time.Second, "writes to go on after "+step, func() bool { return ackedCount() > before+20 })
	}
	for i := range files {
		require.NoError(t, os.WriteFile(files[i].ca, both, 0o600))
	}
	reloadAll("trusting both CAs")
	for i := range files {
		files[i].write(t, both, newCA.Issue(t, "server.global.nomad"))
	}
	reloadAll("new certificates")
	for i := range files {
		require.NoError(t, os.WriteFile(files[i].ca, newCA.PEM, 0o600))
	}
	reloadAll("dropping the old CA")
	stop()
	wg.Wait()

	// The old CA is refused now; the new one accepted.
	leader := c.WaitLeader(30 * time.Second)
	rctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := rpcAs(t, leader.Addr, oldCA, oldCA.Issue(t, "server.global.nomad")).ServerInfo(rctx, &structs.ServerInfoRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err), "the old CA after the rotation")
	_, err = rpcAs(t, leader.Addr, newCA, newCA.Issue(t, "server.global.nomad")).ServerInfo(rctx, &structs.ServerInfoRequest{})
	require.NoError(t, err)
	for _, id := range acked {
		_, err := leader.Server().Job(rctx, "", id)
		require.NoError(t, err, "acknowledged job %s", id)
	}
	t.Logf("%d acknowledged writes across the rotation", len(acked))
}

// TestConnectionFloodDoesNotStarveOthers is the regression test of Nomad's
// CVE-2020-7218: one address opening connections that never speak is held
// to its own limit and cut off after the handshake timeout, and a client
// from another address is served meanwhile.
func TestConnectionFloodDoesNotStarveOthers(t *testing.T) {
	ca := tlstest.NewCA(t)
	f := writeTLSFiles(t, t.TempDir(), ca.PEM, ca.Issue(t, "server.global.nomad"))
	srv, err := drover.NewServer(drover.ServerOptions{DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", TLS: f.options(true),
		Limits: drover.Limits{RPCMaxConnsPerClient: 5, RPCHandshakeTimeout: 500 * time.Millisecond}, Logger: harness.Logger(t)})
	require.NoError(t, err)
	defer harness.Shutdown(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitForLeader(ctx))
	_, port, _ := net.SplitHostPort(srv.Addr())
	var flood []net.Conn
	for range 50 {
		conn, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			continue
		}
		flood = append(flood, conn)
	}
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	// Another address (127.0.0.2, as another host would be) is served.
	m, err := tcp.LoadMaterial(tcp.MaterialSource{CAPEM: ca.PEM, CertPEM: f.certPEM(t), KeyPEM: f.keyPEM(t)})
	require.NoError(t, err)
	cc, err := grpc.NewClient("passthrough:///"+net.JoinHostPort("127.0.0.1", port),
		grpc.WithTransportCredentials(tcp.GRPCCredentials(0)),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
			raw, err := d.DialContext(ctx, "tcp", a)
			if err != nil {
				return nil, err
			}
			conn := tls.Client(raw, m.ClientConfig())
			if err := conn.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return conn, nil
		}))
	require.NoError(t, err)
	defer cc.Close()
	_, err = structs.NewDroverClient(cc).ServerInfo(ctx, &structs.ServerInfoRequest{})
	require.NoError(t, err, "a client of another address is served during the flood")
	// The flooding connections are cut once their handshake time is up.
	for _, c := range flood {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err := c.Read(make([]byte, 1))
		require.Error(t, err)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server closed the connection, not our deadline")
	}
}

func (f tlsFiles) certPEM(t *testing.T) []byte {
	b, err := os.ReadFile(f.cert)
	require.NoError(t, err)
	return b
}

func (f tlsFiles) keyPEM(t *testing.T) []byte {
	b, err := os.ReadFile(f.key)
	require.NoError(t, err)
	return b
}

// TestHTTPSWithAndWithoutClientCertificates covers both settings of
// verify_https_client, and plain HTTP against the HTTPS port.
func TestHTTPSWithAndWithoutClientCertificates(t *testing.T) {
	ca := tlstest.NewCA(t)
	f := writeTLSFiles(t, t.TempDir(), ca.PEM, ca.Issue(t, "server.global.nomad"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	userLeaf := ca.Issue(t, "cli.global.nomad")
	userCert, err := tls.X509KeyPair(userLeaf.CertPEM, userLeaf.KeyPEM)
	require.NoError(t, err)
	for _, verify := range []bool{true, false} {
		t.Run(fmt.Sprintf("verify_https_client=%v", verify), func(t *testing.T) {
			srv, err := drover.NewServer(drover.ServerOptions{DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", Logger: harness.Logger(t),
				TLS: &drover.TLSOptions{HTTP: true, CAFile: f.ca, CertFile: f.cert, KeyFile: f.key, VerifyHTTPSClient: verify}})
			require.NoError(t, err)
			defer harness.Shutdown(t, srv)
			ln, err := srv.ListenHTTP("127.0.0.1:0")
			require.NoError(t, err)
			hs := &http.Server{Handler: srv.HTTPHandler(), ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = hs.Serve(ln) }()
			defer hs.Close()
			url := "https://" + ln.Addr().String() + "/v1/status/leader"
			get := func(certs ...tls.Certificate) (*http.Response, error) {
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs, ServerName: "server.global.nomad"}}
				defer tr.CloseIdleConnections()
				return (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
			}
			resp, err := get(userCert)
			require.NoError(t, err, "with a certificate of the CA")
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			resp, err = get()
			if verify {
				require.Error(t, err, "no client certificate")
			} else {
				require.NoError(t, err, "no client certificate is needed")
				resp.Body.Close()
			}
			plain, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ln.Addr().String() + "/v1/status/leader")
			if err == nil {
				body, _ := io.ReadAll(plain.Body)
				plain.Body.Close()
				require.NotEqual(t, http.StatusOK, plain.StatusCode, "plain HTTP gets nothing useful")
				require.NotContains(t, string(body), srv.Addr())
			}
		})
	}
}

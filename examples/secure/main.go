// Command secure runs a cluster secured as Nomad secures one, in one
// process: mutual TLS between every agent, with certificates that name
// their role and region (server.global.nomad, client.global.nomad) and are
// checked for it (VerifyServerHostname), gossip encryption, and ACLs.
//
// It makes a throw-away certificate authority and certificates in a
// temporary directory, starts three servers and a client with them,
// bootstraps ACLs, writes a read-only and a deploy policy with a token for
// each, and registers a job as each token through drover.WithToken: the
// read-only token is refused, the deploy token accepted, and the job runs
// on the client. It exits 0 once the job has completed.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/fn"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "secure:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "drover-secure-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// One CA; the servers share a certificate for server.global.nomad and
	// the client has one for client.global.nomad.
	ca, err := newCA(dir)
	if err != nil {
		return err
	}
	tlsFor := map[string]*drover.TLSOptions{}
	for _, name := range []string{"server.global.nomad", "client.global.nomad"} {
		if tlsFor[name], err = ca.issue(name); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "CA and certificates written to %s\n", dir)

	// Gossip between servers is not TLS: a shared key encrypts it.
	gossipKey := make([]byte, 32)
	if _, err := rand.Read(gossipKey); err != nil {
		return err
	}
	var servers []*drover.Server
	for i := range 3 {
		o := drover.ServerOptions{
			Name: fmt.Sprintf("server-%d", i), DataDir: filepath.Join(dir, fmt.Sprintf("server-%d", i)),
			BindAddr: "127.0.0.1:0", BootstrapExpect: 3,
			Encrypt: base64.StdEncoding.EncodeToString(gossipKey),
			TLS:     tlsFor["server.global.nomad"], ACL: drover.ACLOptions{Enabled: true},
		}
		if i > 0 {
			o.ServerJoin.RetryJoin = []string{servers[0].GossipAddr()}
		}
		srv, err := drover.NewServer(o)
		if err != nil {
			return err
		}
		defer srv.Shutdown(context.Background())
		servers = append(servers, srv)
	}
	if err := servers[0].WaitForLeader(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "3 servers formed a cluster over mutual TLS")

	// The first management token; with it, the policies and tokens.
	srv := servers[2] // any server: writes are forwarded to the leader
	boot, err := srv.ACLBootstrap(ctx, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ACLs bootstrapped: management token with accessor %s...\n", boot.AccessorId[:8])
	asManager := drover.WithToken(ctx, boot.SecretId)
	if _, err := srv.UpsertACLPolicies(asManager, []*drover.ACLPolicy{
		{Name: "readonly", Rules: `namespace "default" { policy = "read" }`},
		{Name: "deploy", Rules: `namespace "default" { policy = "write" }`},
	}); err != nil {
		return err
	}
	tokens, err := srv.UpsertACLTokens(asManager, []*drover.ACLToken{
		{Name: "reader", Type: "client", Policies: []string{"readonly"}},
		{Name: "deployer", Type: "client", Policies: []string{"deploy"}},
	})
	if err != nil {
		return err
	}
	asReader, asDeployer := drover.WithToken(ctx, tokens[0].SecretId), drover.WithToken(ctx, tokens[1].SecretId)
	fmt.Fprintln(out, `policies "readonly" and "deploy" written, with a token for each`)

	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.Addr())
	}
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: addrs, TLS: tlsFor["client.global.nomad"],
		Functions: map[string]fn.Func{"hello": hello},
	})
	if err != nil {
		return err
	}
	defer cli.Shutdown(context.Background())
	select {
	case <-cli.Ready():
	case <-ctx.Done():
		return fmt.Errorf("client did not register: %w", ctx.Err())
	}
	fmt.Fprintf(out, "client %s registered over mutual TLS\n", cli.NodeID()[:8])

	job := helloJob()
	_, err = srv.RegisterJob(asReader, job)
	if !errors.Is(err, drover.ErrPermissionDenied) {
		return fmt.Errorf("the read-only token registered a job: %v", err)
	}
	fmt.Fprintf(out, "register %q with the read-only token: refused (%v)\n", job.Id, err)
	resp, err := srv.RegisterJob(asDeployer, job)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "register %q with the deploy token: accepted (evaluation %s)\n", job.Id, resp.EvalId[:8])

	// The reader may watch the job it could not register.
	for allocs, err := range srv.WatchAllocations(asReader, "", job.Id) {
		if err != nil {
			return err
		}
		for _, a := range allocs {
			switch a.ClientStatus {
			case drover.AllocClientComplete:
				fmt.Fprintf(out, "%q completed on client %s\n", job.Id, a.NodeId[:8])
				return nil
			case drover.AllocClientFailed:
				return fmt.Errorf("allocation failed: %s", a.ClientDescription)
			}
		}
	}
	return ctx.Err()
}

// hello is the job's task, a Go function run by the client's fn driver.
func hello(_ context.Context, t *fn.Task) error {
	_, err := fmt.Fprintln(t.Stdout, "hello from a secured cluster")
	return err
}

func helloJob() *drover.Job {
	return &drover.Job{
		Id: "hello", Type: drover.JobTypeBatch,
		TaskGroups: []*drover.TaskGroup{{
			Name: "greet", Count: 1,
			Tasks: []*drover.Task{{
				Name: "hello", Driver: "fn", Config: drover.TaskConfig(map[string]any{"func": "hello"}),
				Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 10},
			}},
		}},
	}
}

// ca is a throw-away certificate authority that writes PEM files to dir.
type ca struct {
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	caFile string
}

func newCA(dir string) (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drover example CA"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &ca{dir: dir, cert: cert, key: key, caFile: filepath.Join(dir, "ca.pem")}
	return c, writePEM(c.caFile, "CERTIFICATE", der)
}

// issue makes a certificate for name and 127.0.0.1, usable by both ends
// of a connection as agents' certificates are, and returns TLS options
// for mutual TLS on RPC with it.
func (c *ca) issue(name string) (*drover.TLSOptions, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{name}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	o := &drover.TLSOptions{
		RPC: true, VerifyServerHostname: true, CAFile: c.caFile,
		CertFile: filepath.Join(c.dir, name+".pem"), KeyFile: filepath.Join(c.dir, name+"-key.pem"),
	}
	if err := writePEM(o.CertFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return o, writePEM(o.KeyFile, "PRIVATE KEY", keyDER)
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}

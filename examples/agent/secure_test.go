package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/tlstest"
)

// inProcessAgent is an agent run by run in the test's process.
type inProcessAgent struct {
	stdout, stderr    *syncBuffer
	signals           chan os.Signal
	exit              chan int
	httpAddr, rpcAddr string
	configFile        string
}

var bindAddrsRe = regexp.MustCompile(`Bind Addrs: HTTP: ([0-9.]+:[0-9]+); RPC: ([0-9.]+:[0-9]+)`)

// startAgent runs the agent with the configuration file src until the
// test ends, and waits for its start-up summary.
func startAgent(t *testing.T, src string) *inProcessAgent {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "agent.hcl")
	require.NoError(t, os.WriteFile(cfg, []byte(src), 0o600))
	a := &inProcessAgent{
		stdout: &syncBuffer{}, stderr: &syncBuffer{},
		signals: make(chan os.Signal, 1), exit: make(chan int, 1), configFile: cfg,
	}
	go func() { a.exit <- run([]string{"-config", cfg}, a.stdout, a.stderr, a.signals) }()
	t.Cleanup(func() { a.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for !bindAddrsRe.MatchString(a.stdout.String()) {
		select {
		case code := <-a.exit:
			a.exit <- code
			t.Fatalf("the agent exited with %d: %s", code, a.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start-up summary: %s", a.stderr.String())
		}
	}
	m := bindAddrsRe.FindStringSubmatch(a.stdout.String())
	a.httpAddr, a.rpcAddr = m[1], m[2]
	return a
}

// running reports whether run has not returned.
func (a *inProcessAgent) running() bool {
	select {
	case code := <-a.exit:
		a.exit <- code
		return false
	default:
		return true
	}
}

// stop sends SIGINT and waits for a clean exit; it does nothing once run
// has returned.
func (a *inProcessAgent) stop(t *testing.T) {
	t.Helper()
	if !a.running() {
		return
	}
	a.signals <- syscall.SIGINT
	select {
	case code := <-a.exit:
		a.exit <- code
		require.Equal(t, 0, code, "stderr: %s", a.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not stop on SIGINT")
	}
}

// securePKI is a CA, the agent's certificate (for both roles of region
// global, and 127.0.0.1) and an operator's.
type securePKI struct {
	ca              *tlstest.CA
	agent, operator *tlstest.Leaf
}

func newSecurePKI(t *testing.T) *securePKI {
	ca := tlstest.NewCA(t)
	return &securePKI{
		ca:       ca,
		agent:    ca.Issue(t, "server.global.nomad", "client.global.nomad"),
		operator: ca.Issue(t, "cli.global.nomad"),
	}
}

// nomadClient is Nomad's Go client for the agent at https://addr.
func nomadClient(t *testing.T, address string, tc *nomad.TLSConfig) *nomad.Client {
	t.Helper()
	c, err := nomad.NewClient(&nomad.Config{Address: address, TLSConfig: tc})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

const testGossipKey = "ZHJvdmVyIGFnZW50IHRlc3Qga2V5OiAzMiBieXRlcyE="

// TestSecuredAgentWithNomadsClient runs an agent with mutual TLS on RPC
// and HTTPS, and ACLs, and drives it with Nomad's Go client as an
// operator would.
func TestSecuredAgentWithNomadsClient(t *testing.T) {
	pki := newSecurePKI(t)
	a := startAgent(t, `
data_dir  = "`+filepath.Join(t.TempDir(), "data")+`"
bind_addr = "127.0.0.1"
ports {
  http = 0
  rpc  = 0
  serf = 0
}
server {
  enabled          = true
  bootstrap_expect = 1
  encrypt          = "`+testGossipKey+`"
}
client { enabled = true }
tls {
  http                   = true
  rpc                    = true
  ca_file                = "`+pki.ca.File+`"
  cert_file              = "`+pki.agent.CertFile+`"
  key_file               = "`+pki.agent.KeyFile+`"
  verify_server_hostname = true
  verify_https_client    = true
}
acl { enabled = true }
`)
	summary := a.stdout.String()
	require.Contains(t, summary, "ACL: enabled")
	require.Contains(t, summary, "TLS: RPC, HTTP")

	url := "https://" + a.httpAddr
	withCert := &nomad.TLSConfig{CACert: pki.ca.File, ClientCert: pki.operator.CertFile, ClientKey: pki.operator.KeyFile}

	// Without a client certificate the TLS handshake fails.
	_, _, err := nomadClient(t, url, &nomad.TLSConfig{CACert: pki.ca.File}).Jobs().List(nil)
	require.ErrorContains(t, err, "tls: certificate required")
	// Without the CA the agent's certificate is not trusted.
	_, _, err = nomadClient(t, url, &nomad.TLSConfig{ClientCert: pki.operator.CertFile, ClientKey: pki.operator.KeyFile}).Jobs().List(nil)
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	// Plain HTTP on the HTTPS port gets Go's refusal, and no data.
	_, _, err = nomadClient(t, "http://"+a.httpAddr, nil).Jobs().List(nil)
	require.ErrorContains(t, err, "400")
	require.ErrorContains(t, err, "HTTP request to an HTTPS server")

	anon := nomadClient(t, url, withCert)
	harness.Eventually(t, 30*time.Second, "a leader", func() bool {
		l, err := anon.Status().Leader()
		return err == nil && l != ""
	})
	// With a certificate but no token, ACLs refuse.
	_, _, err = anon.Jobs().List(nil)
	require.ErrorContains(t, err, "403")

	// Bootstrap works once.
	boot, _, err := anon.ACLTokens().Bootstrap(nil)
	require.NoError(t, err)
	require.Equal(t, "management", boot.Type)
	_, _, err = anon.ACLTokens().Bootstrap(nil)
	require.Error(t, err, "a second bootstrap is refused")

	mgmt := nomadClient(t, url, withCert)
	mgmt.SetSecretID(boot.SecretID)
	_, err = mgmt.ACLPolicies().Upsert(&nomad.ACLPolicy{
		Name: "readonly", Description: "read jobs",
		Rules: `namespace "default" { policy = "read" }`,
	}, nil)
	require.NoError(t, err)
	readTok, _, err := mgmt.ACLTokens().Create(&nomad.ACLToken{Name: "reader", Type: "client", Policies: []string{"readonly"}}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, readTok.SecretID)

	reader := nomadClient(t, url, withCert)
	reader.SetSecretID(readTok.SecretID)
	_, _, err = reader.Jobs().List(nil)
	require.NoError(t, err, "the read-only token lists jobs")
	job := nomad.NewBatchJob("hello", "hello", "global", 50)
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(
		nomad.NewTask("t", "raw_exec").SetConfig("command", "/bin/true").
			Require(&nomad.Resources{CPU: ptrTo(20), MemoryMB: ptrTo(16)})))
	_, _, err = reader.Jobs().Register(job, nil)
	require.ErrorContains(t, err, "403", "the read-only token may not register a job")

	_, _, err = mgmt.Jobs().Register(job, nil)
	require.NoError(t, err, "the management token registers the job")
	jobs, _, err := reader.Jobs().List(nil)
	require.NoError(t, err)
	require.Len(t, jobs, 1)

	self, _, err := reader.ACLTokens().Self(nil)
	require.NoError(t, err)
	require.Equal(t, readTok.AccessorID, self.AccessorID)
	require.Equal(t, []string{"readonly"}, self.Policies)
	self, _, err = mgmt.ACLTokens().Self(nil)
	require.NoError(t, err)
	require.Equal(t, boot.AccessorID, self.AccessorID)

	// The client in the agent registered over mutual TLS with its
	// client.global.nomad name.
	harness.Eventually(t, 30*time.Second, "the node to be ready", func() bool {
		nodes, _, err := mgmt.Nodes().List(nil)
		return err == nil && len(nodes) == 1 && nodes[0].Status == "ready"
	})

	// The agent's self-description holds no secret.
	body, err := mgmt.Raw().Response("/v1/agent/self", nil)
	require.NoError(t, err)
	raw, err := io.ReadAll(body)
	require.NoError(t, err)
	require.NoError(t, body.Close())
	require.Contains(t, string(raw), `"config"`)
	for _, secret := range []string{boot.SecretID, readTok.SecretID, testGossipKey} {
		require.NotContains(t, string(raw), secret)
	}

	a.stop(t)
	require.NotContains(t, a.stderr.String(), boot.SecretID, "the log holds no token secret")
}

// peerSerial dials addr over TLS and returns the serial of the
// certificate the agent presents.
func peerSerial(t *testing.T, addr, serverName string, pki *securePKI, cert *tlstest.Leaf) *big.Int {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(pki.ca.Cert)
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{
		RootCAs: pool, ServerName: serverName, Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12,
	})
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// TestSIGHUPReloadsTheCertificates rotates the agent's certificate files
// and checks that new connections, on HTTPS and on RPC, see the new
// certificate while the agent keeps running; a file that does not load
// leaves the old certificate in place.
func TestSIGHUPReloadsTheCertificates(t *testing.T) {
	pki := newSecurePKI(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "agent.pem"), filepath.Join(dir, "agent-key.pem")
	install := func(certPEM, keyPEM []byte) {
		require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
		require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	}
	install(pki.agent.CertPEM, pki.agent.KeyPEM)
	a := startAgent(t, `
data_dir  = "`+filepath.Join(dir, "data")+`"
bind_addr = "127.0.0.1"
ports {
  http = 0
  rpc  = 0
  serf = 0
}
server {
  enabled          = true
  bootstrap_expect = 1
}
client { enabled = true }
tls {
  http                   = true
  rpc                    = true
  ca_file                = "`+pki.ca.File+`"
  cert_file              = "`+certFile+`"
  key_file               = "`+keyFile+`"
  verify_server_hostname = true
  verify_https_client    = true
}
`)
	require.Contains(t, a.stdout.String(), "ACL: disabled")
	rpcClient := pki.ca.Issue(t, "client.global.nomad")
	serials := func() (httpSerial, rpcSerial *big.Int) {
		return peerSerial(t, a.httpAddr, "", pki, pki.operator), peerSerial(t, a.rpcAddr, "server.global.nomad", pki, rpcClient)
	}
	h, r := serials()
	require.Equal(t, pki.agent.Cert.SerialNumber, h)
	require.Equal(t, pki.agent.Cert.SerialNumber, r)

	api := nomadClient(t, "https://"+a.httpAddr, &nomad.TLSConfig{
		CACert: pki.ca.File, ClientCert: pki.operator.CertFile, ClientKey: pki.operator.KeyFile,
	})
	harness.Eventually(t, 30*time.Second, "the node to be ready", func() bool {
		nodes, _, err := api.Nodes().List(nil)
		return err == nil && len(nodes) == 1 && nodes[0].Status == "ready"
	})

	// A certificate file that does not load: the error is logged and the
	// old certificate stays.
	install([]byte("not a certificate\n"), pki.agent.KeyPEM)
	a.signals <- syscall.SIGHUP
	harness.Eventually(t, 10*time.Second, "the failed reload to be logged", func() bool {
		s := a.stderr.String()
		return strings.Contains(s, "reloading the server's TLS certificates failed; keeping the current ones") &&
			strings.Contains(s, "reloading the client's TLS certificates failed; keeping the current ones")
	})
	h, r = serials()
	require.Equal(t, pki.agent.Cert.SerialNumber, h, "the old certificate is kept")
	require.Equal(t, pki.agent.Cert.SerialNumber, r)

	// A new certificate of the same CA.
	next := pki.ca.Issue(t, "server.global.nomad", "client.global.nomad")
	install(next.CertPEM, next.KeyPEM)
	a.signals <- syscall.SIGHUP
	harness.Eventually(t, 10*time.Second, "the reload to be logged", func() bool {
		return strings.Contains(a.stderr.String(), `msg="TLS certificates reloaded"`)
	})
	h, r = serials()
	require.Equal(t, next.Cert.SerialNumber, h, "a new HTTPS connection sees the new certificate")
	require.Equal(t, next.Cert.SerialNumber, r, "a new RPC connection sees the new certificate")

	require.NotContains(t, a.stderr.String(), "take effect only after a restart", "rotating the files changes no setting")
	require.True(t, a.running(), "the agent kept running")
	_, err := api.Status().Leader()
	require.NoError(t, err)
	nodes, _, err := api.Nodes().List(nil)
	require.NoError(t, err)
	require.Equal(t, "ready", nodes[0].Status)

	// Changed settings, not files, wait for a restart.
	f, err := os.OpenFile(a.configFile, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = io.WriteString(f, "limits { http_max_conns_per_client = 50 }\nacl { enabled = true }\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	a.signals <- syscall.SIGHUP
	harness.Eventually(t, 10*time.Second, "the restart warning", func() bool {
		return strings.Contains(a.stderr.String(), `msg="changed settings take effect only after a restart" settings="acl settings, limits"`)
	})
}

// TestLimitsBoundTheHTTPAPI checks the limits block on the HTTP API: the
// connections of one address, and the time a connection may take to send
// its request headers.
func TestLimitsBoundTheHTTPAPI(t *testing.T) {
	a := startAgent(t, `
data_dir  = "`+filepath.Join(t.TempDir(), "data")+`"
bind_addr = "127.0.0.1"
ports {
  http = 0
  rpc  = 0
  serf = 0
}
server {
  enabled          = true
  bootstrap_expect = 1
}
limits {
  http_max_conns_per_client = 2
  https_handshake_timeout   = "1s"
}
`)
	require.Contains(t, a.stdout.String(), "TLS: disabled")
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", a.httpAddr, 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// closedWithin reports whether the agent closes c within d, reading
	// nothing from it.
	closedWithin := func(c net.Conn, d time.Duration) bool {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
		n, err := c.Read(make([]byte, 1))
		return n == 0 && errors.Is(err, io.EOF)
	}
	first, second := dial(), dial()
	// Both are accepted: each gets an answer.
	for _, c := range []net.Conn{first, second} {
		_, err := io.WriteString(c, "GET /v1/status/leader HTTP/1.1\r\nHost: agent\r\n\r\n")
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		line := make([]byte, len("HTTP/1.1 200"))
		_, err = io.ReadFull(c, line)
		require.NoError(t, err)
		require.Equal(t, "HTTP/1.1 200", string(line))
	}
	require.True(t, closedWithin(dial(), 10*time.Second), "a third connection of the same address is closed at once")

	// A connection that sends no request is closed after the handshake
	// timeout (1s), well before the 5s default.
	require.NoError(t, first.Close())
	start := time.Now()
	var idle net.Conn
	harness.Eventually(t, 10*time.Second, "a connection slot to free up", func() bool {
		idle = dial()
		start = time.Now()
		return !closedWithin(idle, 500*time.Millisecond)
	})
	require.True(t, closedWithin(idle, 10*time.Second), "the silent connection is closed")
	require.Less(t, time.Since(start), 4*time.Second)
}

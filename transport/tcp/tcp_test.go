package tcp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/droverhq/drover/internal/testing/leakcheck"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/tcp"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// echoServer listens with tr and echoes every connection back until the
// test ends.
func echoServer(t *testing.T, tr transport.Transport) string {
	t.Helper()
	ln, err := tr.Listen("127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// roundTrip dials addr, sends a message and requires it back.
func roundTrip(t *testing.T, tr transport.Transport, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tr.Dial(ctx, addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	msg := []byte("hello, drover")
	_, err = c.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
}

func TestEcho(t *testing.T) {
	var tr tcp.Transport
	addr := echoServer(t, tr)
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	require.NotEqual(t, "0", port)
	roundTrip(t, tr, addr)
}

func TestConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		return pipe(tcp.Transport{}, tcp.Transport{})
	})
}

// pipe returns both ends of a connection between two transports.
func pipe(server, client tcp.Transport) (c1, c2 net.Conn, stop func(), err error) {
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c1, err = client.Dial(context.Background(), ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		<-accepted
		return nil, nil, nil, err
	}
	c2 = <-accepted
	return c1, c2, func() { _ = c1.Close(); _ = c2.Close() }, nil
}

func TestListenBadAddress(t *testing.T) {
	_, err := tcp.Transport{}.Listen("not an address")
	require.Error(t, err)
}

func TestDialClosedPort(t *testing.T) {
	ln, err := tcp.Transport{}.Listen("127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	_, err = tcp.Transport{}.Dial(context.Background(), addr)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestDialCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	addr := echoServer(t, tcp.Transport{})
	_, err := tcp.Transport{}.Dial(ctx, addr)
	require.ErrorIs(t, err, context.Canceled)
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "drover test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	server := tcp.Transport{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	client := tcp.Transport{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	addr := echoServer(t, server)
	roundTrip(t, client, addr)

	// The connection really is TLS, verified against the test's CA.
	c, err := client.Dial(context.Background(), addr)
	require.NoError(t, err)
	defer c.Close()
	tc, ok := c.(*tls.Conn)
	require.True(t, ok, "dialed a %T", c)
	require.True(t, tc.ConnectionState().HandshakeComplete)
	require.Equal(t, cert.Leaf.Raw, tc.ConnectionState().PeerCertificates[0].Raw)
}

func TestTLSUntrustedServer(t *testing.T) {
	cert, _ := selfSigned(t)
	_, otherPool := selfSigned(t)
	server := tcp.Transport{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	client := tcp.Transport{TLS: &tls.Config{RootCAs: otherPool, MinVersion: tls.VersionTLS12}}
	addr := echoServer(t, server)
	_, err := client.Dial(context.Background(), addr)
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)
}

func TestTLSListenWithoutCertificate(t *testing.T) {
	_, err := tcp.Transport{TLS: &tls.Config{}}.Listen("127.0.0.1:0")
	require.ErrorIs(t, err, tcp.ErrNoCertificate)
}

// TestTLSDialDeadline dials a server that accepts TCP but never answers
// the TLS handshake: Dial must give up at the context's deadline.
func TestTLSDialDeadline(t *testing.T) {
	ln, err := tcp.Transport{}.Listen("127.0.0.1:0")
	require.NoError(t, err)
	silent := make(chan net.Conn, 1)
	go func() {
		defer close(silent)
		if c, err := ln.Accept(); err == nil {
			silent <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for c := range silent {
			_ = c.Close()
		}
	})

	_, pool := selfSigned(t)
	client := tcp.Transport{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = client.Dial(ctx, ln.Addr().String())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 10*time.Second)
}

package tcp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/internal/testing/tlstest"
	"github.com/droverhq/drover/transport/tcp"
)

// wait bounds every wait of these tests; none should come near it.
const wait = 20 * time.Second

// material loads the material of a leaf of ca, from their files.
func material(t *testing.T, ca *tlstest.CA, leaf *tlstest.Leaf) *tcp.Material {
	t.Helper()
	m, err := tcp.LoadMaterial(tcp.MaterialSource{CAFile: ca.File, CertFile: leaf.CertFile, KeyFile: leaf.KeyFile})
	require.NoError(t, err)
	return m
}

// handshake is what a testServer saw of one connection's TLS handshake.
type handshake struct {
	err   error
	state tls.ConnectionState
}

// testServer echoes what each connection sends until the peer closes it.
// For TLS connections it first completes the handshake and reports it.
type testServer struct {
	ln   net.Listener
	addr string
	// handshakes receives the result of each TLS handshake.
	handshakes chan handshake

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// serve starts a testServer on tr, stopped when the test ends.
func serve(t *testing.T, tr tcp.Transport) *testServer {
	t.Helper()
	ln, err := tr.Listen("127.0.0.1:0")
	require.NoError(t, err)
	return serveOn(t, ln)
}

// serveOn starts a testServer on ln, stopped when the test ends.
func serveOn(t *testing.T, ln net.Listener) *testServer {
	t.Helper()
	s := &testServer{ln: ln, addr: ln.Addr().String(), handshakes: make(chan handshake, 1000), conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) handle(c net.Conn) {
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	if tc, ok := c.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := tc.HandshakeContext(ctx)
		cancel()
		select {
		case s.handshakes <- handshake{err: err, state: tc.ConnectionState()}:
		default:
		}
		if err != nil {
			return
		}
	}
	_, _ = io.Copy(c, c)
}

// nextHandshake returns the next handshake the server saw.
func (s *testServer) nextHandshake(t *testing.T) handshake {
	t.Helper()
	select {
	case h := <-s.handshakes:
		return h
	case <-time.After(wait):
		t.Fatal("the server saw no handshake")
		return handshake{}
	}
}

// dial dials addr with tr, bounded by wait.
func dial(ctx context.Context, tr tcp.Transport, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return tr.Dial(ctx, addr)
}

// echo sends a message on c and reads it back.
func echo(c net.Conn) error {
	if err := c.SetDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	msg := []byte("hello, drover")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return errors.New("echo mismatch")
	}
	return c.SetDeadline(time.Time{})
}

// exchange dials addr and echoes one message; it returns the first error.
// Under TLS 1.3 a server refusing the client's certificate shows as an
// error of the first read, not of Dial.
func exchange(ctx context.Context, tr tcp.Transport, addr string) error {
	c, err := dial(ctx, tr, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return echo(c)
}

// requireClosedByPeer requires that c gets no data and sees its peer
// close it before wait.
func requireClosedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	n, err := c.Read(make([]byte, 1))
	require.Zero(t, n, "read data")
	require.Error(t, err)
	var ne net.Error
	if errors.As(err, &ne) {
		require.False(t, ne.Timeout(), "the peer did not close the connection: %v", err)
	}
}

// copyFiles copies files into a new directory and returns their new
// paths, so that a test can overwrite them.
func copyFiles(t *testing.T, files ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		dst := filepath.Join(dir, filepath.Base(f))
		require.NoError(t, os.WriteFile(dst, b, 0o600))
		out = append(out, dst)
	}
	return out
}

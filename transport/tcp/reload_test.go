package tcp_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/internal/testing/tlstest"
	"github.com/droverhq/drover/transport/tcp"
)

// reloadable is material loaded from files a test may overwrite.
type reloadable struct {
	*tcp.Material
	ca, cert, key string
}

func newReloadable(t *testing.T, ca *tlstest.CA, leaf *tlstest.Leaf) reloadable {
	t.Helper()
	f := copyFiles(t, ca.File, leaf.CertFile, leaf.KeyFile)
	m, err := tcp.LoadMaterial(tcp.MaterialSource{CAFile: f[0], CertFile: f[1], KeyFile: f[2]})
	require.NoError(t, err)
	return reloadable{Material: m, ca: f[0], cert: f[1], key: f[2]}
}

// rotate writes ca and leaf over r's files and reloads them.
func (r reloadable) rotate(t *testing.T, ca *tlstest.CA, leaf *tlstest.Leaf) {
	t.Helper()
	require.NoError(t, os.WriteFile(r.ca, ca.PEM, 0o600))
	require.NoError(t, os.WriteFile(r.cert, leaf.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(r.key, leaf.KeyPEM, 0o600))
	require.NoError(t, r.Reload())
}

func TestReload(t *testing.T) {
	old := newCluster(t)
	server := newReloadable(t, old.ca, old.server)
	client := newReloadable(t, old.ca, old.client)
	srv := serve(t, tcp.Transport{Material: server.Material})
	clientTr := tcp.Transport{Material: client.Material}
	oldClient := old.clientTransport(t) // never reloaded

	established, err := dial(bg, clientTr, srv.addr)
	require.NoError(t, err)
	defer established.Close()
	require.NoError(t, echo(established))
	require.NoError(t, srv.nextHandshake(t).err)

	// Rotate both sides to a new CA.
	rotated := newCluster(t)
	server.rotate(t, rotated.ca, rotated.server)
	client.rotate(t, rotated.ca, rotated.client)
	require.True(t, server.Certificate().Equal(rotated.server.Cert))

	// New connections use the new material...
	conn, err := dial(bg, clientTr, srv.addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, echo(conn))
	require.True(t, conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Equal(rotated.server.Cert))
	h := srv.nextHandshake(t)
	require.NoError(t, h.err)
	require.True(t, h.state.PeerCertificates[0].Equal(rotated.client.Cert))

	// ...the connection made before keeps working...
	require.NoError(t, echo(established))

	// ...and the old CA is no longer trusted, either way.
	require.Error(t, exchange(bg, oldClient, srv.addr))
	require.Error(t, srv.nextHandshake(t).err)
	oldServer := serve(t, old.serverTransport(t))
	require.Error(t, exchange(bg, clientTr, oldServer.addr))
}

func TestReloadFailureKeepsMaterial(t *testing.T) {
	c := newCluster(t)
	server := newReloadable(t, c.ca, c.server)
	srv := serve(t, tcp.Transport{Material: server.Material})
	client := c.clientTransport(t)
	next := c.ca.Issue(t, tcp.ServerName("global"))

	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T)
		want   string
	}{
		{"certificate not PEM", func(t *testing.T) {
			require.NoError(t, os.WriteFile(server.cert, []byte("garbage"), 0o600))
		}, server.cert},
		{"key missing", func(t *testing.T) {
			require.NoError(t, os.WriteFile(server.cert, next.CertPEM, 0o600))
			require.NoError(t, os.Remove(server.key))
		}, server.key},
		{"key of the old certificate", func(t *testing.T) {
			require.NoError(t, os.WriteFile(server.key, c.server.KeyPEM, 0o600))
		}, "does not match"},
		{"CA truncated", func(t *testing.T) {
			require.NoError(t, os.WriteFile(server.key, next.KeyPEM, 0o600))
			require.NoError(t, os.WriteFile(server.ca, c.ca.PEM[:len(c.ca.PEM)/2], 0o600))
		}, server.ca},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.break_(t)
			err := server.Reload()
			require.ErrorContains(t, err, tc.want)
			require.True(t, server.Certificate().Equal(c.server.Cert))

			conn, err := dial(bg, client, srv.addr)
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, echo(conn))
			require.True(t, conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Equal(c.server.Cert))
		})
	}

	// Fixed, it reloads.
	require.NoError(t, os.WriteFile(server.ca, c.ca.PEM, 0o600))
	require.NoError(t, server.Reload())
	require.True(t, server.Certificate().Equal(next.Cert))
	require.NoError(t, exchange(bg, client, srv.addr))
}

func TestReloadFrom(t *testing.T) {
	c := newCluster(t)
	m := material(t, c.ca, c.server)
	rotated := newCluster(t)

	err := m.ReloadFrom(tcp.MaterialSource{CAFile: rotated.ca.File, CertFile: rotated.server.CertFile, KeyFile: filepath.Join(t.TempDir(), "nope")})
	require.ErrorContains(t, err, "nope")
	require.True(t, m.Certificate().Equal(c.server.Cert))
	// The failed source was not kept.
	require.NoError(t, m.Reload())
	require.True(t, m.Certificate().Equal(c.server.Cert))

	require.NoError(t, m.ReloadFrom(tcp.MaterialSource{CAFile: rotated.ca.File, CertFile: rotated.server.CertFile, KeyFile: rotated.server.KeyFile}))
	require.True(t, m.Certificate().Equal(rotated.server.Cert))
	srv := serve(t, tcp.Transport{Material: m})
	require.NoError(t, exchange(bg, rotated.clientTransport(t), srv.addr))
	require.Error(t, exchange(bg, c.clientTransport(t), srv.addr))
}

package tcp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/internal/testing/tlstest"
	"github.com/droverhq/drover/transport/tcp"
)

var bg = context.Background()

// cluster is a CA with a server's and a client's certificates, Nomad
// style, in region global.
type cluster struct {
	ca             *tlstest.CA
	server, client *tlstest.Leaf
}

func newCluster(t *testing.T) cluster {
	ca := tlstest.NewCA(t)
	return cluster{
		ca:     ca,
		server: ca.Issue(t, tcp.ServerName("global"), tcp.ClientName("global")),
		client: ca.Issue(t, tcp.ClientName("global")),
	}
}

func (c cluster) serverTransport(t *testing.T) tcp.Transport {
	return tcp.Transport{Material: material(t, c.ca, c.server)}
}

func (c cluster) clientTransport(t *testing.T) tcp.Transport {
	return tcp.Transport{Material: material(t, c.ca, c.client)}
}

func TestMTLSAccepted(t *testing.T) {
	c := newCluster(t)
	srv := serve(t, c.serverTransport(t))
	client := c.clientTransport(t)

	conn, err := dial(bg, client, srv.addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, echo(conn))

	h := srv.nextHandshake(t)
	require.NoError(t, h.err)
	require.GreaterOrEqual(t, h.state.Version, uint16(tls.VersionTLS12))
	require.Equal(t, []string{"client.global.nomad"}, tcp.PeerNames(h.state))
	require.True(t, tcp.HasName(h.state, tcp.ClientName("global")))
	require.False(t, tcp.HasName(h.state, tcp.ServerName("global")))

	// The client saw the server's certificate.
	cs := conn.(*tls.Conn).ConnectionState()
	require.True(t, cs.PeerCertificates[0].Equal(c.server.Cert))

	// A server's certificate may be used to dial, too.
	serverAsClient := tcp.Transport{Material: material(t, c.ca, c.server)}
	require.NoError(t, exchange(bg, serverAsClient, srv.addr))
	h = srv.nextHandshake(t)
	require.NoError(t, h.err)
	require.True(t, tcp.HasName(h.state, tcp.ServerName("global")))
}

func TestMTLSIntermediate(t *testing.T) {
	root := tlstest.NewCA(t)
	inter := root.Intermediate(t)
	server := inter.Issue(t, tcp.ServerName("global"))
	client := inter.Issue(t, tcp.ClientName("global"))

	srv := serve(t, tcp.Transport{Material: material(t, root, server)})
	require.NoError(t, exchange(bg, tcp.Transport{Material: material(t, root, client)}, srv.addr))
	h := srv.nextHandshake(t)
	require.NoError(t, h.err)
	require.Equal(t, []string{"client.global.nomad"}, tcp.PeerNames(h.state))
}

func TestMTLSRefused(t *testing.T) {
	c := newCluster(t)
	srv := serve(t, c.serverTransport(t))
	other := tlstest.NewCA(t)

	t.Run("client certificate from another CA", func(t *testing.T) {
		// The client trusts the server, so that the server's check is the
		// one that fails; it presents its certificate even though the
		// server names the CAs it accepts.
		foreign := other.Issue(t, tcp.ClientName("global"))
		client := tcp.Transport{TLS: &tls.Config{
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &foreign.TLS, nil
			},
			RootCAs:    pool(c.ca),
			MinVersion: tls.VersionTLS12,
		}}
		require.Error(t, exchange(bg, client, srv.addr))
		h := srv.nextHandshake(t)
		var unknown x509.UnknownAuthorityError
		require.ErrorAs(t, h.err, &unknown)
	})

	t.Run("client of another CA", func(t *testing.T) {
		// With all its material from another CA, the client refuses the
		// server first.
		client := tcp.Transport{Material: material(t, other, other.Issue(t, tcp.ClientName("global")))}
		err := exchange(bg, client, srv.addr)
		var unknown x509.UnknownAuthorityError
		require.ErrorAs(t, err, &unknown)
		require.Error(t, srv.nextHandshake(t).err)
	})

	t.Run("no client certificate", func(t *testing.T) {
		client := tcp.Transport{TLS: &tls.Config{RootCAs: pool(c.ca), MinVersion: tls.VersionTLS12}}
		require.Error(t, exchange(bg, client, srv.addr))
		require.ErrorContains(t, srv.nextHandshake(t).err, "didn't provide a certificate")
	})

	t.Run("expired client certificate", func(t *testing.T) {
		client := tcp.Transport{Material: material(t, c.ca, c.ca.IssueExpired(t, tcp.ClientName("global")))}
		require.Error(t, exchange(bg, client, srv.addr))
		var invalid x509.CertificateInvalidError
		require.ErrorAs(t, srv.nextHandshake(t).err, &invalid)
		require.Equal(t, x509.Expired, invalid.Reason)
	})

	t.Run("expired server certificate", func(t *testing.T) {
		expired := serve(t, tcp.Transport{Material: material(t, c.ca, c.ca.IssueExpired(t, tcp.ServerName("global")))})
		err := exchange(bg, c.clientTransport(t), expired.addr)
		var invalid x509.CertificateInvalidError
		require.ErrorAs(t, err, &invalid)
		require.Equal(t, x509.Expired, invalid.Reason)
	})

	t.Run("TLS 1.1", func(t *testing.T) {
		client := tcp.Transport{TLS: &tls.Config{
			Certificates:       []tls.Certificate{c.client.TLS},
			InsecureSkipVerify: true, // the version is what is refused
			MinVersion:         tls.VersionTLS10,
			MaxVersion:         tls.VersionTLS11,
		}}
		require.Error(t, exchange(bg, client, srv.addr))
		require.ErrorContains(t, srv.nextHandshake(t).err, "unsupported versions")
	})

	t.Run("plain TCP client", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		require.NoError(t, err)
		requireClosedByPeer(t, conn)
		require.Error(t, srv.nextHandshake(t).err)
	})
}

func TestMTLSClientAgainstPlainServer(t *testing.T) {
	c := newCluster(t)
	srv := serve(t, tcp.Transport{})
	_, err := dial(bg, c.clientTransport(t), srv.addr)
	require.Error(t, err)
}

func TestMinVersion(t *testing.T) {
	c := newCluster(t)
	m := material(t, c.ca, c.client)
	for _, cfg := range []*tls.Config{m.ServerConfig(), m.ClientConfig(), m.HTTPServerConfig(true), m.HTTPServerConfig(false)} {
		require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	}
}

func TestServerNameOnDial(t *testing.T) {
	c := newCluster(t)
	want := tcp.ServerName("global")

	for _, tc := range []struct {
		name  string
		names []string
		ok    bool
	}{
		{"server name", []string{"server.global.nomad"}, true},
		{"server and client names", []string{"client.global.nomad", "server.global.nomad"}, true},
		{"other region", []string{"server.other.nomad"}, false},
		{"client name", []string{"client.global.nomad"}, false},
		{"no DNS names", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, tcp.Transport{Material: material(t, c.ca, c.ca.Issue(t, tc.names...))})
			err := exchange(tcp.WithServerName(bg, want), c.clientTransport(t), srv.addr)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			var mismatch *tcp.NameMismatchError
			require.ErrorAs(t, err, &mismatch)
			require.Equal(t, want, mismatch.Want)
			require.Equal(t, tc.names, mismatch.Have)
			require.ErrorContains(t, err, want)
			for _, n := range tc.names {
				require.ErrorContains(t, err, n)
			}
			// The server sees the handshake fail too.
			require.Error(t, srv.nextHandshake(t).err)

			// Without a name to check, the same server is fine.
			require.NoError(t, exchange(bg, c.clientTransport(t), srv.addr))
		})
	}
}

// TestServerNameWithTLSConfig checks WithServerName on a Transport
// configured with a plain tls.Config.
func TestServerNameWithTLSConfig(t *testing.T) {
	c := newCluster(t)
	srv := serve(t, c.serverTransport(t))
	client := tcp.Transport{TLS: &tls.Config{
		Certificates: []tls.Certificate{c.client.TLS},
		RootCAs:      pool(c.ca),
		MinVersion:   tls.VersionTLS12,
	}}
	// Without a name, the dialed address is verified, as before.
	require.NoError(t, exchange(bg, client, srv.addr))
	require.NoError(t, exchange(tcp.WithServerName(bg, "server.global.nomad"), client, srv.addr))
	err := exchange(tcp.WithServerName(bg, "server.other.nomad"), client, srv.addr)
	require.ErrorContains(t, err, "server.other.nomad")
}

func TestTransportConflict(t *testing.T) {
	c := newCluster(t)
	tr := tcp.Transport{TLS: &tls.Config{}, Material: material(t, c.ca, c.server)}
	_, err := tr.Listen("127.0.0.1:0")
	require.ErrorIs(t, err, tcp.ErrTLSConflict)
	_, err = tr.Dial(bg, "127.0.0.1:1")
	require.ErrorIs(t, err, tcp.ErrTLSConflict)
}

func TestNames(t *testing.T) {
	require.Equal(t, "server.global.nomad", tcp.ServerName("global"))
	require.Equal(t, "client.eu-west.nomad", tcp.ClientName("eu-west"))
	// Unverified states have no names.
	c := newCluster(t)
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.server.Cert}}
	require.Nil(t, tcp.PeerNames(cs))
	require.False(t, tcp.HasName(cs, "server.global.nomad"))
	cs.VerifiedChains = [][]*x509.Certificate{{c.server.Cert, c.ca.Cert}}
	require.True(t, tcp.HasName(cs, "SERVER.global.nomad"))
}

func pool(cas ...*tlstest.CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

package tcp_test

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/internal/testing/tlstest"
	"github.com/droverhq/drover/transport/tcp"
)

func TestLoadMaterialFromPEM(t *testing.T) {
	c := newCluster(t)
	m, err := tcp.LoadMaterial(tcp.MaterialSource{CAPEM: c.ca.PEM, CertPEM: c.server.CertPEM, KeyPEM: c.server.KeyPEM})
	require.NoError(t, err)
	require.True(t, m.Certificate().Equal(c.server.Cert))
	// Reload re-parses the same bytes.
	require.NoError(t, m.Reload())

	srv := serve(t, tcp.Transport{Material: m})
	require.NoError(t, exchange(bg, c.clientTransport(t), srv.addr))
}

func TestLoadMaterialErrors(t *testing.T) {
	c := newCluster(t)
	other := tlstest.NewCA(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not PEM at all"), 0o600))
	missing := filepath.Join(t.TempDir(), "missing.pem")
	keyAsCA := filepath.Join(t.TempDir(), "key-as-ca.pem")
	require.NoError(t, os.WriteFile(keyAsCA, c.client.KeyPEM, 0o600))

	ok := tcp.MaterialSource{CAFile: c.ca.File, CertFile: c.server.CertFile, KeyFile: c.server.KeyFile}
	for _, tc := range []struct {
		name string
		edit func(*tcp.MaterialSource)
		want []string // substrings of the error
	}{
		{"no CA", func(s *tcp.MaterialSource) { s.CAFile = "" }, []string{"no CA"}},
		{"no certificate", func(s *tcp.MaterialSource) { s.CertFile = "" }, []string{"no certificate"}},
		{"no key", func(s *tcp.MaterialSource) { s.KeyFile = "" }, []string{"no key"}},
		{"missing CA file", func(s *tcp.MaterialSource) { s.CAFile = missing }, []string{"CA file", missing}},
		{"missing certificate file", func(s *tcp.MaterialSource) { s.CertFile = missing }, []string{"certificate file", missing}},
		{"missing key file", func(s *tcp.MaterialSource) { s.KeyFile = missing }, []string{"key file", missing}},
		{"CA not PEM", func(s *tcp.MaterialSource) { s.CAFile = garbage }, []string{garbage, "no PEM certificate"}},
		{"CA file holds a key", func(s *tcp.MaterialSource) { s.CAFile = keyAsCA }, []string{keyAsCA, "PRIVATE KEY"}},
		{"certificate not PEM", func(s *tcp.MaterialSource) { s.CertFile = garbage }, []string{garbage, c.server.KeyFile}},
		{"key of another certificate", func(s *tcp.MaterialSource) { s.KeyFile = c.client.KeyFile },
			[]string{c.server.CertFile, c.client.KeyFile, "does not match"}},
		{"certificate of another CA", func(s *tcp.MaterialSource) { s.CAFile = other.File },
			[]string{c.server.CertFile, other.File, "not issued"}},
		{"both file and PEM", func(s *tcp.MaterialSource) { s.CAPEM = c.ca.PEM }, []string{"CA", "both"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := ok
			tc.edit(&src)
			m, err := tcp.LoadMaterial(src)
			require.Nil(t, m)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestHTTPServerConfig(t *testing.T) {
	c := newCluster(t)
	m := material(t, c.ca, c.server)

	for _, verifyClient := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		srv := &http.Server{
			Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
			ErrorLog: log.New(io.Discard, "", 0), // refused handshakes
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(tls.NewListener(ln, m.HTTPServerConfig(verifyClient)))
		}()

		get := func(cfg *tls.Config) error {
			tr := &http.Transport{TLSClientConfig: cfg}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: wait}).Get("https://" + ln.Addr().String())
			if err != nil {
				return err
			}
			return resp.Body.Close()
		}
		withCert := material(t, c.ca, c.client).ClientConfig()
		withoutCert := &tls.Config{RootCAs: pool(c.ca), MinVersion: tls.VersionTLS12}
		otherCA := tlstest.NewCA(t)
		foreign := material(t, otherCA, otherCA.Issue(t, "client.global.nomad")).ClientConfig()
		foreign.VerifyConnection = nil // trust the server, present the foreign certificate

		require.NoError(t, get(withCert))
		if verifyClient {
			require.Error(t, get(withoutCert))
			require.Error(t, get(foreign))
		} else {
			require.NoError(t, get(withoutCert))
		}
		require.NoError(t, srv.Close())
		<-done
	}
}

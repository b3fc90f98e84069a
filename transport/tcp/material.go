package tcp

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// MaterialSource says where a Material's CA, certificate and key come
// from: each from a file, or from PEM bytes, not both.
type MaterialSource struct {
	// CAFile is a PEM file of the CA certificates that peers' certificates
	// must chain to (Nomad's ca_file). Several may be given, to rotate.
	CAFile string
	// CertFile is a PEM file of this agent's certificate, optionally
	// followed by the intermediate CAs that issued it (Nomad's cert_file).
	CertFile string
	// KeyFile is a PEM file of the certificate's private key (Nomad's
	// key_file).
	KeyFile string

	// CAPEM, CertPEM and KeyPEM give the same as PEM bytes, for the ones
	// whose file is empty.
	CAPEM, CertPEM, KeyPEM []byte
}

// Material is the TLS material of an agent, loaded from a MaterialSource:
// the CA that peers must chain to and the certificate the agent presents.
// The tls.Configs it makes read the current material on every handshake,
// so Reload takes effect for new connections without restarting listeners
// and without touching established ones.
//
// A Material is safe for concurrent use.
type Material struct {
	mu  sync.Mutex // serializes reloads
	src MaterialSource
	cur atomic.Pointer[materialState]
}

// materialState is one loaded version of the material; it never changes.
type materialState struct {
	cert tls.Certificate // Leaf is set
	pool *x509.CertPool
	// server is the per-handshake config of ServerConfig.
	server *tls.Config
}

// LoadMaterial loads and checks the material of src: the CA parses, the
// certificate and key match, and the certificate was issued by one of the
// CAs (directly or through the intermediates that follow it in its file).
// Errors name the file, or the PEM field, at fault.
func LoadMaterial(src MaterialSource) (*Material, error) {
	st, err := loadState(src)
	if err != nil {
		return nil, err
	}
	m := &Material{src: src}
	m.cur.Store(st)
	return m, nil
}

// Reload reads the source's files again and, if the new material passes
// LoadMaterial's checks, swaps it in for the handshakes that follow. On
// error the current material stays in use and the error is returned.
// Material given as PEM bytes is re-parsed as it was.
func (m *Material) Reload() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, err := loadState(m.src)
	if err != nil {
		return err
	}
	m.cur.Store(st)
	return nil
}

// ReloadFrom is Reload from a different source, for when the paths
// themselves change. On error both the material and the source stay as
// they were.
func (m *Material) ReloadFrom(src MaterialSource) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, err := loadState(src)
	if err != nil {
		return err
	}
	m.src = src
	m.cur.Store(st)
	return nil
}

// Certificate returns the parsed leaf certificate currently presented.
func (m *Material) Certificate() *x509.Certificate { return m.cur.Load().cert.Leaf }

// ServerConfig returns a config for an RPC listener: it presents the
// current certificate, requires a client certificate and verifies it
// against the current CA (for client authentication), with TLS 1.2 at
// least. The per-handshake settings come from GetConfigForClient, which
// overrides the other fields of the returned config; the verified chains
// are in the connection state, for PeerNames.
//
// Session tickets are off, so that every connection gets a full handshake
// with its chain verified afresh: RPC connections live long enough that
// resumption would save little.
func (m *Material) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return m.cur.Load().server, nil
		},
	}
}

// ClientConfig returns a config for dialing: it presents the current
// certificate when the server asks for one, and verifies the server's
// chain against the current CA (for server authentication), with TLS 1.2
// at least.
//
// It sets InsecureSkipVerify, and VerifyConnection does the real
// verification: crypto/tls would verify against a RootCAs pool fixed in
// the config, and would match the dialed host (an address, which agents'
// certificates need not carry) against the certificate. Here the pool is
// the one current at each handshake, and no name is required unless the
// dialer asks for one: Transport.Dial adds the check of the name given by
// WithServerName to VerifyConnection, after the chain's.
func (m *Material) ClientConfig() *tls.Config {
	return m.clientConfig("")
}

// clientConfig is ClientConfig, also requiring the server's certificate to
// carry name when it is not empty.
func (m *Material) clientConfig(name string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // VerifyConnection verifies; see ClientConfig.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &m.cur.Load().cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			leaf, err := m.verify(cs, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if name != "" {
				return checkName(leaf, name)
			}
			return nil
		},
	}
}

// HTTPServerConfig returns a config for an HTTPS listener. It presents
// the current certificate. With verifyClient (Nomad's
// verify_https_client) it requires a client certificate issued by the
// current CA for client authentication; otherwise it asks for none.
//
// Unlike ServerConfig, its settings are plain fields (the verification is
// in VerifyConnection, which also runs on resumed sessions), so net/http
// can clone it and add its ALPN protocols. Connection states on it have no
// VerifiedChains: PeerNames returns nil for them.
func (m *Material) HTTPServerConfig(verifyClient bool) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return &m.cur.Load().cert, nil
		},
		ClientAuth: tls.NoClientCert,
	}
	if verifyClient {
		cfg.ClientAuth = tls.RequireAnyClientCert
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := m.verify(cs, x509.ExtKeyUsageClientAuth)
			return err
		}
	}
	return cfg
}

// verify verifies the peer's chain in cs against the current CA, for
// usage, and returns the peer's leaf.
func (m *Material) verify(cs tls.ConnectionState, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("tcp transport: peer presented no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         m.cur.Load().pool,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(opts); err != nil {
		return nil, fmt.Errorf("tcp transport: peer certificate: %w", err)
	}
	return leaf, nil
}

// loadState reads and checks the material of src.
func loadState(src MaterialSource) (*materialState, error) {
	caPEM, caName, err := readPart("CA", src.CAFile, src.CAPEM)
	if err != nil {
		return nil, err
	}
	certPEM, certName, err := readPart("certificate", src.CertFile, src.CertPEM)
	if err != nil {
		return nil, err
	}
	keyPEM, keyName, err := readPart("key", src.KeyFile, src.KeyPEM)
	if err != nil {
		return nil, err
	}

	cas, err := parseCAs(caPEM, caName)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca)
	}

	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tcp transport: certificate %s and key %s: %w", certName, keyName, err)
	}
	chain := make([]*x509.Certificate, len(cert.Certificate))
	for i, der := range cert.Certificate {
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("tcp transport: certificate %s: certificate %d: %w", certName, i+1, err)
		}
	}
	cert.Leaf = chain[0]
	if err := checkChain(chain); err != nil {
		return nil, fmt.Errorf("tcp transport: certificate %s: %w", certName, err)
	}
	if !issuedBy(chain[len(chain)-1], cas) {
		return nil, fmt.Errorf("tcp transport: certificate %s was not issued by any CA in %s", certName, caName)
	}

	return &materialState{
		cert: cert,
		pool: pool,
		server: &tls.Config{
			MinVersion:             tls.VersionTLS12,
			Certificates:           []tls.Certificate{cert},
			ClientAuth:             tls.RequireAndVerifyClientCert,
			ClientCAs:              pool,
			SessionTicketsDisabled: true,
		},
	}, nil
}

// readPart returns the PEM of one part of the material and how to name it
// in errors.
func readPart(what, file string, data []byte) ([]byte, string, error) {
	switch {
	case file != "" && len(data) > 0:
		return nil, "", fmt.Errorf("tcp transport: %s given both as file %s and as PEM", what, file)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("tcp transport: read %s file: %w", what, err)
		}
		return b, file, nil
	case len(data) > 0:
		return data, what + " PEM", nil
	}
	return nil, "", fmt.Errorf("tcp transport: no %s: set its file or its PEM", what)
}

// parseCAs parses the CERTIFICATE blocks of a CA bundle; it must hold at
// least one, and nothing else.
func parseCAs(data []byte, name string) ([]*x509.Certificate, error) {
	var cas []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("tcp transport: CA %s: block %d is a %s, not a CERTIFICATE", name, len(cas)+1, block.Type)
		}
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tcp transport: CA %s: certificate %d: %w", name, len(cas)+1, err)
		}
		cas = append(cas, ca)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("tcp transport: CA %s: no PEM certificate found", name)
	}
	return cas, nil
}

// checkChain checks that each certificate of chain is signed by the next.
// Like issuedBy, it checks signatures only, not validity periods: an
// expired certificate loads, and peers refuse it.
func checkChain(chain []*x509.Certificate) error {
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return fmt.Errorf("certificate %d is not signed by certificate %d after it: %w", i+1, i+2, err)
		}
	}
	return nil
}

// issuedBy reports whether cert is, or is signed by, one of cas.
func issuedBy(cert *x509.Certificate, cas []*x509.Certificate) bool {
	for _, ca := range cas {
		if cert.Equal(ca) || cert.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

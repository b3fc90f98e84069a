package drover

import (
	"fmt"
	"time"

	"github.com/droverhq/drover/server"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/tcp"
)

// TLSOptions is Nomad's tls block: the certificate material of mutual TLS
// between agents, and of HTTPS for the HTTP API. Each of the CA,
// certificate and key is given as a file or as PEM bytes. See
// docs/security.md for making the certificates.
type TLSOptions struct {
	// RPC turns mutual TLS on for the RPC port: raft, forwarding,
	// snapshots and client calls. Every connection must then present a
	// certificate signed by the CA; plain TCP is refused.
	RPC bool
	// HTTP turns HTTPS on for the HTTP API: Server.ListenHTTP serves TLS
	// and Server.HTTPTLSConfig returns the configuration.
	HTTP bool

	// CAFile, CertFile and KeyFile are PEM files of the CA, this agent's
	// certificate and its key.
	CAFile, CertFile, KeyFile string
	// CAPEM, CertPEM and KeyPEM are the same as PEM bytes, for hosts that
	// keep them elsewhere than in files.
	CAPEM, CertPEM, KeyPEM []byte

	// VerifyServerHostname makes certificates prove a role and a region:
	// a server accepts a peer as a server only with a certificate for
	// server.<region>.nomad, and node calls only with client.<region>.nomad
	// (or the server name); a client accepts a server only with the server
	// name of its region. Without it any certificate of the CA is
	// accepted for every role.
	VerifyServerHostname bool
	// VerifyHTTPSClient requires HTTPS clients to present a certificate
	// signed by the CA.
	VerifyHTTPSClient bool
}

func (t *TLSOptions) source() tcp.MaterialSource {
	return tcp.MaterialSource{
		CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		CAPEM: t.CAPEM, CertPEM: t.CertPEM, KeyPEM: t.KeyPEM,
	}
}

// enabled reports whether any TLS is configured.
func (t *TLSOptions) enabled() bool { return t != nil && (t.RPC || t.HTTP) }

// validate reports what is missing for the TLS asked for.
func (t *TLSOptions) validate(add func(string, ...any)) {
	if !t.enabled() {
		return
	}
	if t.CAFile == "" && len(t.CAPEM) == 0 {
		add("tls: ca_file (or CAPEM) is required")
	}
	if t.CertFile == "" && len(t.CertPEM) == 0 {
		add("tls: cert_file (or CertPEM) is required")
	}
	if t.KeyFile == "" && len(t.KeyPEM) == 0 {
		add("tls: key_file (or KeyPEM) is required")
	}
}

// loadMaterial loads the certificates, or returns nil without TLS.
func (t *TLSOptions) loadMaterial() (*tcp.Material, error) {
	if !t.enabled() {
		return nil, nil
	}
	m, err := tcp.LoadMaterial(t.source())
	if err != nil {
		return nil, fmt.Errorf("%w: tls: %w", ErrInvalidOptions, err)
	}
	return m, nil
}

// ACLOptions is Nomad's acl block (ServerOptions.ACL): whether calls are
// checked against tokens and policies (see WithToken for in-process
// calls), and the bounds of token lifetimes. Defaults: ACLs off, token
// lifetimes between 1m and 24h (server.DefaultACLConfig).
type ACLOptions = server.ACLConfig

// Unlimited, as a connection limit in Limits, lifts it.
const Unlimited = -1

// Limits is Nomad's limits block: bounds that keep floods of connections
// and slow clients from starving a server.
type Limits struct {
	// RPCMaxConnsPerClient bounds the concurrent RPC connections of one
	// remote IP address; more are closed at once. Default 100; Unlimited
	// lifts it.
	RPCMaxConnsPerClient int
	// RPCHandshakeTimeout bounds the TLS handshake of an RPC connection.
	// Default 5s.
	RPCHandshakeTimeout time.Duration
	// HTTPMaxConnsPerClient bounds the concurrent HTTP connections of one
	// remote IP address on the listener Server.ListenHTTP returns. Default
	// 100; Unlimited lifts it.
	HTTPMaxConnsPerClient int
	// HTTPSHandshakeTimeout bounds the TLS handshake and the reading of a
	// request's headers and body on the HTTP API. Default 5s.
	HTTPSHandshakeTimeout time.Duration
}

func (l *Limits) setDefaults() {
	setDefault(&l.RPCMaxConnsPerClient, 100)
	setDefault(&l.RPCHandshakeTimeout, 5*time.Second)
	setDefault(&l.HTTPMaxConnsPerClient, 100)
	setDefault(&l.HTTPSHandshakeTimeout, 5*time.Second)
}

func (l Limits) validate(add func(string, ...any)) {
	if l.RPCMaxConnsPerClient < Unlimited || l.HTTPMaxConnsPerClient < Unlimited {
		add("limits: a connection limit must be positive, or Unlimited")
	}
	if l.RPCHandshakeTimeout < 0 || l.HTTPSHandshakeTimeout < 0 {
		add("limits: handshake timeouts must not be negative")
	}
}

// connLimit turns a Limits connection count into the transport's.
func connLimit(n int) int {
	if n == Unlimited {
		return 0
	}
	return n
}

// secureTransport returns the transport an agent uses: the host's, or
// TCP with the TLS material and the limits. TLS needs TCP.
func secureTransport(t transport.Transport, m *tcp.Material, handshake time.Duration, maxConns int) (transport.Transport, error) {
	if t == nil {
		return tcp.Transport{Material: m, HandshakeTimeout: handshake, MaxConnsPerClient: maxConns}, nil
	}
	var tt tcp.Transport
	switch v := t.(type) {
	case tcp.Transport:
		tt = v
	case *tcp.Transport:
		tt = *v
	default:
		if m != nil {
			return nil, optErr("tls.rpc needs the TCP transport (transport/tcp), not %T", t)
		}
		return t, nil
	}
	if m != nil {
		if tt.TLS != nil || (tt.Material != nil && tt.Material != m) {
			return nil, optErr("tls.rpc and a TCP transport with its own TLS configuration: set one of them")
		}
		tt.Material = m
	}
	if tt.HandshakeTimeout == 0 {
		tt.HandshakeTimeout = handshake
	}
	if tt.MaxConnsPerClient == 0 {
		tt.MaxConnsPerClient = maxConns
	}
	return tt, nil
}

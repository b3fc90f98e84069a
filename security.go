package drover

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/droverhq/drover/server"
	"github.com/droverhq/drover/transport/tcp"
)

// WithToken returns a context under which calls on a Server act as the
// caller whose ACL token secret is secret ("" is the anonymous caller),
// with the same checks as the HTTP API. Without it, calls a host makes on
// its own Server act with the host's full authority. A host that serves
// its own API on top of drover attaches each request's token this way, so
// its users get no more than their tokens allow.
func WithToken(ctx context.Context, secret string) context.Context {
	return server.WithToken(ctx, secret)
}

// Reload applies what can change while the server runs: the TLS
// certificates and CA are read again from their files (material given as
// PEM bytes does not change). New connections use them at once;
// established ones carry on, so the cluster and acknowledged writes are
// untouched. On error the server keeps the material it had.
func (s *Server) Reload() error {
	if s.tls == nil {
		return nil
	}
	if err := s.tls.Reload(); err != nil {
		return fmt.Errorf("reload TLS material: %w", err)
	}
	s.logger.Info("TLS material reloaded", "certificate_names", s.tls.Certificate().DNSNames)
	return nil
}

// HTTPTLSConfig is the TLS configuration of the HTTP API, following the
// certificates Reload loads; nil unless TLSOptions.HTTP is set. With
// VerifyHTTPSClient it requires client certificates of the CA.
func (s *Server) HTTPTLSConfig() *tls.Config {
	if s.tls == nil || s.opts.TLS == nil || !s.opts.TLS.HTTP {
		return nil
	}
	return s.tls.HTTPServerConfig(s.opts.TLS.VerifyHTTPSClient)
}

// ListenHTTP listens on addr for the HTTP API: with at most
// Limits.HTTPMaxConnsPerClient connections per remote address, and TLS
// when TLSOptions.HTTP is set. Serve HTTPHandler on it with an
// http.Server whose ReadHeaderTimeout bounds the TLS handshake and the
// headers (Limits.HTTPSHandshakeTimeout is the value the reference agent
// uses).
func (s *Server) ListenHTTP(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s: %w", addr, err)
	}
	if n := connLimit(s.opts.Limits.HTTPMaxConnsPerClient); n > 0 {
		ln = tcp.LimitConnsPerClient(ln, n)
	}
	if c := s.HTTPTLSConfig(); c != nil {
		ln = tls.NewListener(ln, c)
	}
	return ln, nil
}

// Reload applies what can change while the client runs: the TLS
// certificates and CA are read again from their files.
func (c *Client) Reload() error {
	if c.tls == nil {
		return nil
	}
	if err := c.tls.Reload(); err != nil {
		return fmt.Errorf("reload TLS material: %w", err)
	}
	return nil
}

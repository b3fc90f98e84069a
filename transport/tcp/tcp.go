// Package tcp is the default transport.Transport: TCP, with TLS when
// configured.
//
// TLS follows Nomad's model. Every agent presents a certificate issued by
// one CA; a server's carries the DNS name ServerName(region), a client's
// ClientName(region). A Material holds the CA and the agent's certificate
// and reloads them in place; Transport serves and dials mutual TLS with
// it, checks the server's name when the dial asks for one
// (WithServerName), bounds the TLS handshake in time and can cap the
// connections of each client. GRPCCredentials shows the TLS state of the
// transport's connections to gRPC, for role checks on the server.
package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/droverhq/drover/transport"
)

// ErrNoCertificate is returned by Listen when the TLS configuration has no
// way to present a certificate.
var ErrNoCertificate = errors.New("tcp transport: TLS config has no certificate to serve")

// ErrTLSConflict is returned by Listen and Dial when both TLS and
// Material are set.
var ErrTLSConflict = errors.New("tcp transport: both TLS and Material are set")

// DefaultHandshakeTimeout bounds TLS handshakes when
// Transport.HandshakeTimeout is zero (Nomad's rpc_handshake_timeout).
const DefaultHandshakeTimeout = 5 * time.Second

// Transport carries connections over TCP. The zero value is plain TCP.
// With TLS or Material set (not both), every connection is TLS: Listen
// serves nothing else and Dial does not fall back to plain TCP.
type Transport struct {
	// TLS, when not nil, secures every connection: Listen serves TLS with
	// it (it needs a certificate) and Dial connects with it (the server
	// name defaults to the one of WithServerName, else to the dialed
	// host). It must not be changed after the Transport is first used.
	TLS *tls.Config

	// Material, when not nil, secures every connection with mutual TLS:
	// Listen serves Material.ServerConfig and Dial uses
	// Material.ClientConfig, requiring the name of WithServerName when the
	// context has one. Material.Reload applies to the connections that
	// follow.
	Material *Material

	// HandshakeTimeout bounds the TLS handshake of each connection, on
	// both sides: an accepted peer that has not completed it in time is
	// disconnected, whether or not anything reads the connection yet.
	// Zero means DefaultHandshakeTimeout; a negative value means no bound
	// (but Dial's context). It has no effect on plain TCP.
	HandshakeTimeout time.Duration

	// MaxConnsPerClient caps the concurrent connections Listen accepts
	// from one remote IP address (see LimitConnsPerClient); 0 means no
	// limit. The listener then implements Limited, to count or report the
	// connections refused.
	MaxConnsPerClient int
}

var _ transport.Transport = Transport{}

// Listen implements transport.Transport.
func (t Transport) Listen(addr string) (net.Listener, error) {
	cfg, err := t.serverConfig()
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcp transport: listen: %w", err)
	}
	var lim *LimitListener
	if t.MaxConnsPerClient > 0 {
		lim = LimitConnsPerClient(ln, t.MaxConnsPerClient)
		ln = lim
	}
	if cfg == nil {
		return ln, nil
	}
	tl := &tlsListener{Listener: ln, config: cfg, timeout: t.handshakeTimeout()}
	if lim != nil {
		return &limitedTLSListener{tlsListener: tl, lim: lim}, nil
	}
	return tl, nil
}

// serverConfig returns the TLS config Listen serves, or nil for plain TCP.
func (t Transport) serverConfig() (*tls.Config, error) {
	switch {
	case t.TLS != nil && t.Material != nil:
		return nil, ErrTLSConflict
	case t.Material != nil:
		return t.Material.ServerConfig(), nil
	case t.TLS != nil:
		if len(t.TLS.Certificates) == 0 && t.TLS.GetCertificate == nil && t.TLS.GetConfigForClient == nil {
			return nil, ErrNoCertificate
		}
		return t.TLS, nil
	}
	return nil, nil
}

// handshakeTimeout is the bound of TLS handshakes; 0 for none.
func (t Transport) handshakeTimeout() time.Duration {
	switch {
	case t.HandshakeTimeout < 0:
		return 0
	case t.HandshakeTimeout == 0:
		return DefaultHandshakeTimeout
	}
	return t.HandshakeTimeout
}

// Dial implements transport.Transport. With TLS, the handshake is done
// before Dial returns, within ctx and the handshake timeout; a server
// whose certificate lacks the name of WithServerName fails it with a
// *NameMismatchError. When ctx ends the dial, the error wraps ctx.Err().
func (t Transport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	cfg, err := t.clientConfig(ctx, addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, dialError(ctx, err)
	}
	if cfg == nil {
		return conn, nil
	}
	tc := tls.Client(conn, cfg)
	hctx := ctx
	timeout := t.handshakeTimeout()
	if timeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = conn.Close()
		if ctxDone(ctx) == nil && hctx.Err() != nil {
			return nil, fmt.Errorf("tcp transport: dial: TLS handshake with %s not done within %v: %w", addr, timeout, os.ErrDeadlineExceeded)
		}
		return nil, dialError(ctx, fmt.Errorf("TLS handshake with %s: %w", addr, err))
	}
	return tc, nil
}

// clientConfig returns the TLS config for dialing addr under ctx, or nil
// for plain TCP.
func (t Transport) clientConfig(ctx context.Context, addr string) (*tls.Config, error) {
	name := serverNameFrom(ctx)
	switch {
	case t.TLS != nil && t.Material != nil:
		return nil, ErrTLSConflict
	case t.Material != nil:
		cfg := t.Material.clientConfig(name)
		cfg.ServerName = name // sent as SNI; the name check is in VerifyConnection
		return cfg, nil
	case t.TLS != nil:
		if t.TLS.ServerName != "" && name == "" {
			return t.TLS, nil
		}
		cfg := t.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = name
		}
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, fmt.Errorf("tcp transport: dial: %w", err)
			}
			cfg.ServerName = host
		}
		if name != "" {
			prev := cfg.VerifyConnection
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if prev != nil {
					if err := prev(cs); err != nil {
						return err
					}
				}
				if len(cs.PeerCertificates) == 0 {
					return errors.New("tcp transport: server presented no certificate")
				}
				return checkName(cs.PeerCertificates[0], name)
			}
		}
		return cfg, nil
	}
	return nil, nil
}

// dialError wraps err from dialing, adding why ctx ended if it did.
func dialError(ctx context.Context, err error) error {
	if ctxErr := ctxDone(ctx); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("tcp transport: dial: %w (%w)", err, ctxErr)
	}
	return fmt.Errorf("tcp transport: dial: %w", err)
}

// ctxDone returns why ctx is done, or nil. A connect that runs into ctx's
// deadline can fail on the socket's copy of that deadline a moment before
// ctx itself reports it; that counts as the deadline too.
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

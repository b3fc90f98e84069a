// Package tcp is the default transport.Transport: TCP, with TLS when
// configured.
package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/droverhq/drover/transport"
)

// ErrNoCertificate is returned by Listen when the TLS configuration has no
// way to present a certificate.
var ErrNoCertificate = errors.New("tcp transport: TLS config has no certificate to serve")

// Transport carries connections over TCP. The zero value is plain TCP;
// with TLS set, Listen serves TLS with it (it needs a certificate) and Dial
// connects with it (the server name defaults to the dialed host).
type Transport struct {
	// TLS, when not nil, secures every connection. It must not be changed
	// after the Transport is first used.
	TLS *tls.Config
}

var _ transport.Transport = Transport{}

// Listen implements transport.Transport.
func (t Transport) Listen(addr string) (net.Listener, error) {
	if t.TLS != nil && len(t.TLS.Certificates) == 0 && t.TLS.GetCertificate == nil && t.TLS.GetConfigForClient == nil {
		return nil, ErrNoCertificate
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcp transport: listen: %w", err)
	}
	if t.TLS != nil {
		return tls.NewListener(ln, t.TLS), nil
	}
	return ln, nil
}

// Dial implements transport.Transport. With TLS, the handshake is done
// before Dial returns, within ctx. When ctx ends the dial, the error wraps
// ctx.Err().
func (t Transport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var (
		conn net.Conn
		err  error
	)
	if t.TLS != nil {
		d := tls.Dialer{Config: t.TLS}
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		if ctxErr := ctxDone(ctx); ctxErr != nil && !errors.Is(err, ctxErr) {
			return nil, fmt.Errorf("tcp transport: dial: %w (%w)", err, ctxErr)
		}
		return nil, fmt.Errorf("tcp transport: dial: %w", err)
	}
	return conn, nil
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

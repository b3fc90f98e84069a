package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc/credentials"
)

// GRPCCredentials returns gRPC transport credentials for connections that
// the Transport has already secured (or left plain): they do no TLS of
// their own, but complete and report the TLS handshake of the connection,
// so that the server's interceptors see the peer's certificate through
// peer.FromContext.
//
// For a TLS connection (a *tls.Conn, or any connection with its
// HandshakeContext and ConnectionState methods) the handshake is
// completed, within handshakeTimeout and, on the client side, within the
// context gRPC gives; the AuthInfo is a credentials.TLSInfo with security
// level PrivacyAndIntegrity. A plain connection is passed through with an
// AuthInfo of type "insecure" and security level NoSecurity, so per-RPC
// credentials that require transport security are refused on it.
// handshakeTimeout <= 0 means DefaultHandshakeTimeout.
//
// The client side checks nothing itself: Transport.Dial has verified the
// server, including the name of WithServerName. Info reports "tls" as the
// security protocol whatever the connections turn out to be.
func GRPCCredentials(handshakeTimeout time.Duration) credentials.TransportCredentials {
	if handshakeTimeout <= 0 {
		handshakeTimeout = DefaultHandshakeTimeout
	}
	return grpcCreds{timeout: handshakeTimeout}
}

type grpcCreds struct {
	timeout time.Duration
}

// tlsConn is what the credentials need of a TLS connection.
type tlsConn interface {
	net.Conn
	HandshakeContext(context.Context) error
	ConnectionState() tls.ConnectionState
}

func (c grpcCreds) ClientHandshake(ctx context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.handshake(ctx, conn)
}

func (c grpcCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.handshake(context.Background(), conn)
}

func (c grpcCreds) handshake(ctx context.Context, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc, ok := conn.(tlsConn)
	if !ok {
		return conn, insecureInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, io.EOF // gRPC does not log a peer that went away
		}
		return nil, nil, fmt.Errorf("tcp transport: TLS handshake with %s: %w", conn.RemoteAddr(), err)
	}
	return conn, credentials.TLSInfo{
		State:          tc.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}, nil
}

func (grpcCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c grpcCreds) Clone() credentials.TransportCredentials { return c }

// OverrideServerName does nothing: the server's name is checked by
// Transport.Dial (see WithServerName).
//
// Deprecated: part of the credentials.TransportCredentials interface,
// which deprecates it.
func (grpcCreds) OverrideServerName(string) error { return nil }

// insecureInfo is the AuthInfo of a plain connection.
type insecureInfo struct {
	credentials.CommonAuthInfo
}

func (insecureInfo) AuthType() string { return "insecure" }

// ValidateAuthority accepts any authority, as there is nothing to check
// it against.
func (insecureInfo) ValidateAuthority(string) error { return nil }

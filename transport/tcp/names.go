package tcp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// ServerName is the DNS name a server's certificate carries in region:
// "server.<region>.nomad", as in Nomad.
func ServerName(region string) string { return "server." + region + ".nomad" }

// ClientName is the DNS name a client's certificate carries in region:
// "client.<region>.nomad", as in Nomad. A server's certificate may carry
// it too.
func ClientName(region string) string { return "client." + region + ".nomad" }

// PeerNames returns the DNS names (subject alternative names) of the
// peer's leaf certificate, when the handshake verified the peer's chain;
// otherwise it returns nil.
//
// It reads cs.VerifiedChains, which a server configured with
// Material.ServerConfig fills. The dialing side of Material.ClientConfig
// verifies the server itself (see there), so on that side VerifiedChains
// is empty and PeerNames returns nil; Transport.Dial enforces the name of
// WithServerName instead.
//
// The subject's common name is not a name here, even when the certificate
// has no DNS names: like Go's own hostname verification (and unlike
// Nomad's server-side role check, which also accepts the common name), a
// certificate is for the names in its SAN extension only.
func PeerNames(cs tls.ConnectionState) []string {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil
	}
	return slices.Clone(cs.VerifiedChains[0][0].DNSNames)
}

// HasName reports whether the peer's verified leaf certificate carries
// the DNS name name (see PeerNames). A server checks a peer's role with
// it: HasName(cs, ServerName(region)) for raft and server-to-server
// calls.
func HasName(cs tls.ConnectionState, name string) bool {
	return hasName(PeerNames(cs), name)
}

func hasName(names []string, name string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) })
}

// NameMismatchError is the error of a handshake whose server certificate
// does not carry the name the dialer expected (see WithServerName).
type NameMismatchError struct {
	// Want is the name expected.
	Want string
	// Have are the DNS names the certificate carries.
	Have []string
}

// Error implements error.
func (e *NameMismatchError) Error() string {
	have := "no DNS names"
	if len(e.Have) > 0 {
		have = "only " + strings.Join(e.Have, ", ")
	}
	return fmt.Sprintf("server certificate is not valid for %s: it carries %s", e.Want, have)
}

// checkName returns a *NameMismatchError unless leaf carries name.
func checkName(leaf *x509.Certificate, name string) error {
	if hasName(leaf.DNSNames, name) {
		return nil
	}
	return &NameMismatchError{Want: name, Have: slices.Clone(leaf.DNSNames)}
}

type serverNameKey struct{}

// WithServerName returns a context under which Transport.Dial requires
// the server's certificate to carry the DNS name name, typically
// ServerName(region) (Nomad's verify_server_hostname). It only has an
// effect on TLS dials. An empty name removes the requirement.
func WithServerName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, serverNameKey{}, name)
}

// serverNameFrom returns the name set by WithServerName, or "".
func serverNameFrom(ctx context.Context) string {
	name, _ := ctx.Value(serverNameKey{}).(string)
	return name
}

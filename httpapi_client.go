package drover

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/client"
)

// NewHTTPHandler returns the HTTP API of a client that runs without a
// server in its process: the /v1/client endpoints (file system, logs,
// exec, task restarts and signals, stats) for its own allocations, served
// locally for an operator on the client's host, and /v1/agent/self and
// /v1/agent/health. With ACLs on in the cluster, the servers check each
// request's token. An agent that also runs a server serves the server's
// handler instead, which reaches every client, this one included.
func (c *Client) NewHTTPHandler(opts api.Options) http.Handler {
	return api.NewClientHandler(&clientAPIBackend{Client: c.cli}, opts)
}

// ListenHTTP listens on addr for the client's HTTP API, with TLS when
// TLSOptions.HTTP is set (and client certificates required with
// VerifyHTTPSClient).
func (c *Client) ListenHTTP(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s: %w", addr, err)
	}
	if c.tls != nil && c.tlsOpts != nil && c.tlsOpts.HTTP {
		ln = tls.NewListener(ln, c.tls.HTTPServerConfig(c.tlsOpts.VerifyHTTPSClient))
	}
	return ln, nil
}

// clientAPIBackend adapts a client to what its HTTP API needs.
type clientAPIBackend struct {
	*client.Client
}

var _ api.ClientAgentBackend = (*clientAPIBackend)(nil)

// WithToken implements api.ClientAgentBackend.
func (b *clientAPIBackend) WithToken(ctx context.Context, secret string) context.Context {
	return client.WithToken(ctx, secret)
}

// ClientInfo implements api.ClientAgentBackend.
func (b *clientAPIBackend) ClientInfo() api.ClientInfo {
	n := b.Node()
	connected, _ := b.ServerConnection()
	return api.ClientInfo{
		NodeID: n.Id, Name: n.Name, Region: n.Region, Datacenter: n.Datacenter, NodeClass: n.NodeClass, Version: Version,
		Servers: b.KnownServers(), ConnectedServer: connected, NumAllocations: b.AllocationCount(),
	}
}

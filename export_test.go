package drover

import (
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/server"
)

// ServerOf returns the server a facade wraps, for the tests that act as
// client nodes (registration, heartbeats), which the facade keeps out of
// its API.
func ServerOf(s *Server) *server.Server { return s.srv }

// ClientOf returns the client a facade wraps, for tests that look at its
// connection to the servers.
func ClientOf(c *Client) *client.Client { return c.cli }

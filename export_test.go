package drover

import "github.com/droverhq/drover/server"

// ServerOf returns the server a facade wraps, for the tests that act as
// client nodes (registration, heartbeats), which the facade keeps out of
// its API.
func ServerOf(s *Server) *server.Server { return s.srv }

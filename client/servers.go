package client

import (
	"fmt"
	"net"
	"slices"
)

// Servers lists the server RPC addresses the client knows, the one it
// talks to first (nomad node config -servers).
func (c *Client) Servers() []string {
	s := c.servers
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.servers)
	if n := len(out); n > 0 {
		i := s.current % n
		out = append(out[i:], out[:i]...)
	}
	return out
}

// SetServers replaces the servers the client talks to (nomad node config
// -update-servers); heartbeat replies add the cluster's others again.
// Each address is host:port.
func (c *Client) SetServers(addrs []string) error {
	if len(addrs) == 0 {
		return fmt.Errorf("no server address given")
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("server address %q: want host:port", a)
		}
	}
	s := c.servers
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servers, s.current = slices.Compact(slices.Clone(addrs)), 0
	return nil
}

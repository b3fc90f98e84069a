package main

import (
	"errors"
	"sync/atomic"

	"github.com/droverhq/drover"
)

// clientAgent is the agent's client as the HTTP API asks about it (nomad
// node status -self, node config -servers): the handler is built before
// the client starts.
type clientAgent struct {
	c atomic.Pointer[drover.Client]
}

// NodeID implements api.ClientAgent.
func (ca *clientAgent) NodeID() string {
	if c := ca.c.Load(); c != nil {
		return c.NodeID()
	}
	return ""
}

// Servers implements api.ClientAgent.
func (ca *clientAgent) Servers() []string {
	if c := ca.c.Load(); c != nil {
		return c.Servers()
	}
	return nil
}

// SetServers implements api.ClientAgent.
func (ca *clientAgent) SetServers(addrs []string) error {
	if c := ca.c.Load(); c != nil {
		return c.SetServers(addrs)
	}
	return errors.New("the client is not running yet")
}

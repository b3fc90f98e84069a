package server

import (
	"errors"
	"fmt"
	"time"
)

// JoinConfig is Nomad's server_join block: the servers a server joins
// through gossip at start.
type JoinConfig struct {
	// RetryJoin lists gossip addresses of other servers (host:port, or a
	// host name on the default serf port 4648) to join at start. Once in
	// the gossip pool, a server without raft state joins the cluster of its
	// region or bootstraps one with BootstrapExpect servers.
	RetryJoin []string
	// RetryMax is how many attempts are made; 0 means forever. When all
	// fail, the server stops with an error that says so.
	RetryMax int
	// RetryInterval is the wait between attempts. Default 30s.
	RetryInterval time.Duration
}

// DefaultJoinConfig returns Nomad's defaults: nothing to join, attempts
// without end, 30s apart.
func DefaultJoinConfig() JoinConfig { return JoinConfig{RetryInterval: 30 * time.Second} }

// WithDefaults returns c with every zero field that has a default set to
// DefaultJoinConfig's.
func (c JoinConfig) WithDefaults() JoinConfig {
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultJoinConfig().RetryInterval
	}
	return c
}

// Validate reports every impossible setting, in field order. Every error
// it returns matches ErrInvalidConfig.
func (c JoinConfig) Validate() error {
	var errs []error
	if c.RetryMax < 0 {
		errs = append(errs, fmt.Errorf("%w: server_join.retry_max must be >= 0, got %d", ErrInvalidConfig, c.RetryMax))
	}
	if c.RetryInterval < 0 {
		errs = append(errs, fmt.Errorf("%w: server_join.retry_interval must not be negative, got %v", ErrInvalidConfig, c.RetryInterval))
	}
	return errors.Join(errs...)
}

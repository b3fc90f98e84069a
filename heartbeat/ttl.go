// Package heartbeat computes client heartbeat TTLs from cluster size, so the
// leader's heartbeat load stays near a target rate however large the cluster
// grows. It is pure: no goroutines, no I/O, randomness supplied by the caller.
package heartbeat

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Config holds the heartbeat parameters of a server.
type Config struct {
	// MinTTL is the floor of every client TTL (min_heartbeat_ttl).
	MinTTL time.Duration
	// Grace is added to a client's TTL before the leader declares it down (heartbeat_grace).
	Grace time.Duration
	// FailoverTTL is the TTL every node gets right after a leader election (failover_heartbeat_ttl).
	FailoverTTL time.Duration
	// MaxPerSecond is the heartbeat rate the leader aims not to exceed (max_heartbeats_per_second).
	MaxPerSecond float64
}

// DefaultConfig returns Nomad's defaults: 10s floor, 10s grace, 5m failover, 50 per second.
func DefaultConfig() Config {
	return Config{
		MinTTL:       10 * time.Second,
		Grace:        10 * time.Second,
		FailoverTTL:  5 * time.Minute,
		MaxPerSecond: 50,
	}
}

// ErrInvalidConfig is matched by every error Validate returns.
var ErrInvalidConfig = errors.New("heartbeat: invalid config")

// WithDefaults returns c with every zero field set to DefaultConfig's.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.MinTTL == 0 {
		c.MinTTL = d.MinTTL
	}
	if c.Grace == 0 {
		c.Grace = d.Grace
	}
	if c.FailoverTTL == 0 {
		c.FailoverTTL = d.FailoverTTL
	}
	if c.MaxPerSecond == 0 {
		c.MaxPerSecond = d.MaxPerSecond
	}
	return c
}

// Validate reports every parameter with which no TTL can be computed, in
// field order, under the names of Nomad's server block.
func (c Config) Validate() error {
	var errs []error
	if c.MinTTL <= 0 {
		errs = append(errs, fmt.Errorf("%w: min_heartbeat_ttl must be > 0, got %v", ErrInvalidConfig, c.MinTTL))
	}
	if c.Grace < 0 {
		errs = append(errs, fmt.Errorf("%w: heartbeat_grace must not be negative, got %v", ErrInvalidConfig, c.Grace))
	}
	if c.FailoverTTL <= 0 {
		errs = append(errs, fmt.Errorf("%w: failover_heartbeat_ttl must be > 0, got %v", ErrInvalidConfig, c.FailoverTTL))
	}
	if c.MaxPerSecond <= 0 {
		errs = append(errs, fmt.Errorf("%w: max_heartbeats_per_second must be > 0, got %v", ErrInvalidConfig, c.MaxPerSecond))
	}
	return errors.Join(errs...)
}

// rateTTL is the interval at which nodes clients heartbeating evenly reach MaxPerSecond.
func (c Config) rateTTL(nodes int) time.Duration {
	if nodes <= 0 || c.MaxPerSecond <= 0 {
		return 0
	}
	return time.Duration(float64(nodes) / c.MaxPerSecond * float64(time.Second))
}

// BaseTTL is max(MinTTL, nodes / MaxPerSecond).
func (c Config) BaseTTL(nodes int) time.Duration {
	return max(c.MinTTL, c.rateTTL(nodes))
}

// ClientTTL is the TTL told to one client: the base plus a uniform random
// part in [0, base), which spreads heartbeats out over time.
func (c Config) ClientTTL(nodes int, r *rand.Rand) time.Duration {
	base := c.BaseTTL(nodes)
	if base <= 0 {
		return 0
	}
	return base + time.Duration(r.Int64N(int64(base)))
}

// MaxClientTTL is the largest TTL ClientTTL can return for the cluster size.
func (c Config) MaxClientTTL(nodes int) time.Duration {
	return 2 * c.BaseTTL(nodes)
}

// ServerTTL is how long the leader waits for a client told clientTTL.
func (c Config) ServerTTL(clientTTL time.Duration) time.Duration {
	return clientTTL + c.Grace
}

// SafeFailoverTTL is 2·(nodes / MaxPerSecond) + 10·MinTTL: long enough that
// every client, even one told the longest TTL, heartbeats after an election.
func (c Config) SafeFailoverTTL(nodes int) time.Duration {
	return 2*c.rateTTL(nodes) + 10*c.MinTTL
}

// FailoverSafe reports whether FailoverTTL exceeds every client TTL for the size.
func (c Config) FailoverSafe(nodes int) bool {
	return c.FailoverTTL >= c.MaxClientTTL(nodes)
}

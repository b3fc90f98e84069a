package server

import (
	"errors"
	"fmt"
	"time"
)

// ACLConfig is Nomad's acl block: whether calls are checked against
// tokens and policies, and the bounds of token lifetimes.
type ACLConfig struct {
	// Enabled turns ACLs on: every call that arrives over HTTP or RPC needs
	// a token that allows it (see docs/security.md); in-process calls on a
	// server act with the host's full authority unless their context
	// carries a token.
	Enabled bool
	// ReplicationToken is a global management token that the servers of a
	// region other than the authoritative one present to it to replicate
	// policies and global tokens, and with which they forward their host's
	// calls to other regions.
	ReplicationToken string
	// TokenMinExpirationTTL and TokenMaxExpirationTTL bound the lifetime
	// a token may ask for. Defaults 1m and 24h.
	TokenMinExpirationTTL time.Duration
	TokenMaxExpirationTTL time.Duration
	// ReplicationInterval is how long a non-authoritative region's leader
	// waits before asking the authoritative region again after a failed
	// replication round. Default 5s.
	ReplicationInterval time.Duration
}

// DefaultACLConfig returns Nomad's defaults: ACLs off, token lifetimes
// between 1m and 24h; replication retried every 5s.
func DefaultACLConfig() ACLConfig {
	return ACLConfig{TokenMinExpirationTTL: time.Minute, TokenMaxExpirationTTL: 24 * time.Hour, ReplicationInterval: 5 * time.Second}
}

// WithDefaults returns c with every zero duration set to DefaultACLConfig's.
func (c ACLConfig) WithDefaults() ACLConfig {
	d := DefaultACLConfig()
	if c.TokenMinExpirationTTL == 0 {
		c.TokenMinExpirationTTL = d.TokenMinExpirationTTL
	}
	if c.TokenMaxExpirationTTL == 0 {
		c.TokenMaxExpirationTTL = d.TokenMaxExpirationTTL
	}
	if c.ReplicationInterval == 0 {
		c.ReplicationInterval = d.ReplicationInterval
	}
	return c
}

// Validate reports every impossible setting, in field order: negative
// durations and token bounds that leave no lifetime. Every error it
// returns matches ErrInvalidConfig.
func (c ACLConfig) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"acl.token_min_expiration_ttl", c.TokenMinExpirationTTL},
		{"acl.token_max_expiration_ttl", c.TokenMaxExpirationTTL},
		{"acl.replication_interval", c.ReplicationInterval},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s must not be negative, got %v", ErrInvalidConfig, d.name, d.v))
		}
	}
	if c.TokenMinExpirationTTL > c.TokenMaxExpirationTTL {
		errs = append(errs, fmt.Errorf("%w: acl: token_min_expiration_ttl (%v) is above token_max_expiration_ttl (%v)",
			ErrInvalidConfig, c.TokenMinExpirationTTL, c.TokenMaxExpirationTTL))
	}
	return errors.Join(errs...)
}

func (c ACLConfig) minTTL() time.Duration {
	if c.TokenMinExpirationTTL > 0 {
		return c.TokenMinExpirationTTL
	}
	return DefaultACLConfig().TokenMinExpirationTTL
}

func (c ACLConfig) maxTTL() time.Duration {
	if c.TokenMaxExpirationTTL > 0 {
		return c.TokenMaxExpirationTTL
	}
	return DefaultACLConfig().TokenMaxExpirationTTL
}

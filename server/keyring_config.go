package server

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig is matched by every error the Validate methods of the
// part configurations defined in this package (KeyringConfig, JoinConfig,
// PlanRejectionConfig, ACLConfig) return.
var ErrInvalidConfig = errors.New("server: invalid config")

// KeyringConfig governs the servers' root keyring: the keys that seal
// variables and sign workload identities, how long each stays active and
// when an inactive one is collected (the root_key_* parameters of Nomad's
// server block), and the key that wraps them as raft stores them.
type KeyringConfig struct {
	// RotationThreshold is how long a root key stays active before the
	// leader rotates it (root_key_rotation_threshold). Default 720h.
	RotationThreshold time.Duration
	// GCThreshold is how long past the rotation threshold an inactive key
	// must have existed before it is removed (root_key_gc_threshold),
	// unless a variable is still sealed under it. Default 1h.
	GCThreshold time.Duration
	// GCInterval is how often the leader checks for rotation and
	// collection (root_key_gc_interval). Default 10m.
	GCInterval time.Duration
	// KeyEncryptionKey, when set, is 32 bytes that wrap the root keys as
	// raft stores them: the raft log, snapshots and backups alone then
	// decrypt no variable. Every server of the region needs the same one,
	// kept outside the data dir (a KMS, a secret store). Unset, root keys
	// are stored as they are (see docs/security.md).
	KeyEncryptionKey []byte
}

// DefaultKeyringConfig returns Nomad's defaults: rotation after 720h,
// collection 1h past that, checked every 10m; no key-encryption key.
func DefaultKeyringConfig() KeyringConfig {
	return KeyringConfig{RotationThreshold: 720 * time.Hour, GCThreshold: time.Hour, GCInterval: 10 * time.Minute}
}

// WithDefaults returns c with every zero duration set to
// DefaultKeyringConfig's.
func (c KeyringConfig) WithDefaults() KeyringConfig {
	d := DefaultKeyringConfig()
	if c.RotationThreshold == 0 {
		c.RotationThreshold = d.RotationThreshold
	}
	if c.GCThreshold == 0 {
		c.GCThreshold = d.GCThreshold
	}
	if c.GCInterval == 0 {
		c.GCInterval = d.GCInterval
	}
	return c
}

// Validate reports every impossible setting, in field order: negative
// durations, an interval that is not positive, and a key-encryption key that is not 32
// bytes. Every error it returns matches ErrInvalidConfig.
func (c KeyringConfig) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"root_key_rotation_threshold", c.RotationThreshold},
		{"root_key_gc_threshold", c.GCThreshold},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s must not be negative, got %v", ErrInvalidConfig, d.name, d.v))
		}
	}
	if c.GCInterval <= 0 {
		errs = append(errs, fmt.Errorf("%w: root_key_gc_interval must be > 0, got %v", ErrInvalidConfig, c.GCInterval))
	}
	if n := len(c.KeyEncryptionKey); n != 0 && n != rootKeyBytes {
		errs = append(errs, fmt.Errorf("%w: the key-encryption key must be %d bytes, got %d", ErrInvalidConfig, rootKeyBytes, n))
	}
	return errors.Join(errs...)
}

package raft

import (
	"errors"
	"fmt"
	"time"
)

// Raft timing at Multiplier 1: a 100 ms tick, an election after 10 ticks
// without a leader, a leader heartbeat every tick.
const (
	BaseTick       = 100 * time.Millisecond
	ElectionTicks  = 10
	HeartbeatTicks = 1
)

// Config holds the raft settings an operator chooses (the raft_*
// parameters of Nomad's server block): the timing multiplier and the
// snapshot policy. A node is built from it and the rest of NodeConfig.
type Config struct {
	// Multiplier scales raft timing, 1 (fastest) to 10 (raft_multiplier):
	// the tick is BaseTick·Multiplier.
	Multiplier int
	// SnapshotThreshold is how many entries must be applied since the last
	// raft snapshot before a new one is taken (raft_snapshot_threshold);
	// the node checks every SnapshotInterval (raft_snapshot_interval),
	// jittered up to twice that so servers do not snapshot together.
	// TrailingLogs entries stay in the log after a snapshot, so a follower
	// a little behind catches up from the log (raft_trailing_logs).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// BoltNoFreelistSync skips syncing bbolt's freelist in the raft log
	// store (raft_boltdb.no_freelist_sync); read by the server when it
	// opens the store.
	BoltNoFreelistSync bool
}

// DefaultConfig returns Nomad's defaults: multiplier 1, a snapshot every
// 8192 entries checked every 120 s, 10240 trailing entries.
func DefaultConfig() Config {
	return Config{Multiplier: 1, SnapshotThreshold: 8192, SnapshotInterval: 120 * time.Second, TrailingLogs: 10240}
}

// WithDefaults returns c with every zero field set to DefaultConfig's.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Multiplier == 0 {
		c.Multiplier = d.Multiplier
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = d.SnapshotInterval
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = d.TrailingLogs
	}
	return c
}

// ErrInvalidConfig is matched by every error Validate returns.
var ErrInvalidConfig = errors.New("raft: invalid config")

// Validate reports every impossible setting, in field order.
func (c Config) Validate() error {
	var errs []error
	if c.Multiplier < 1 || c.Multiplier > 10 {
		errs = append(errs, fmt.Errorf("%w: raft_multiplier must be between 1 and 10, got %d", ErrInvalidConfig, c.Multiplier))
	}
	if c.SnapshotInterval < 0 {
		errs = append(errs, fmt.Errorf("%w: raft_snapshot_interval must not be negative, got %v", ErrInvalidConfig, c.SnapshotInterval))
	}
	return errors.Join(errs...)
}

// TickInterval is the interval of raft's logical clock at c's multiplier.
func (c Config) TickInterval() time.Duration {
	return BaseTick * time.Duration(max(c.Multiplier, 1))
}

// ElectionTimeout is how long a follower waits without hearing from a
// leader before it campaigns, at c's multiplier.
func (c Config) ElectionTimeout() time.Duration { return c.TickInterval() * ElectionTicks }

package raft

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/store/inmem"
)

func TestConfigDefaultsTimingAndValidate(t *testing.T) {
	require.Equal(t, DefaultConfig(), Config{}.WithDefaults())
	c := Config{Multiplier: 5}.WithDefaults()
	require.Equal(t, 500*time.Millisecond, c.TickInterval())
	require.Equal(t, 5*time.Second, c.ElectionTimeout())
	require.Equal(t, uint64(8192), c.SnapshotThreshold, "unset fields take the defaults")
	require.NoError(t, DefaultConfig().Validate())

	err := Config{Multiplier: 0, SnapshotInterval: -time.Second}.Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, "raft: invalid config: raft_multiplier must be between 1 and 10, got 0\n"+
		"raft: invalid config: raft_snapshot_interval must not be negative, got -1s", err.Error(),
		"every problem, in field order")
}

func TestNodeTicksAtItsMultipliersIntervalAndTickWaitsForNothingBeforeStart(t *testing.T) {
	cfg := testConfig()
	cfg.BaseTick = 0
	cfg.Multiplier = 3
	n := NewNode(cfg, inmem.New(), newJobFSM(), MemSnapshots{}, noPeers{})
	require.Equal(t, 300*time.Millisecond, n.cfg.BaseTick)
	n.Tick() // not started: returns at once
	n.Stop()
	n.Tick() // stopped: returns at once
}

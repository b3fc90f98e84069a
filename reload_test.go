package drover_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
)

func TestReloadOptionsAppliesThePartsAndNamesTheRest(t *testing.T) {
	opts := drover.ServerOptions{DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", DisableGossip: true}
	srv, err := drover.NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	next := opts
	next.Heartbeat.Grace = 30 * time.Second
	next.GC.DeploymentGCThreshold = 3 * time.Hour
	next.Raft.SnapshotThreshold = 100
	restart, err := srv.ReloadOptions(next)
	require.NoError(t, err)
	require.Empty(t, restart, "heartbeat, GC and the raft snapshot policy apply at once")

	next.Raft.Multiplier = 3
	next.Datacenter = "dc2"
	restart, err = srv.ReloadOptions(next)
	require.NoError(t, err)
	require.Equal(t, []string{"Datacenter", "Raft.Multiplier"}, restart)

	bad := next
	bad.Heartbeat.MaxPerSecond = -1
	_, err = srv.ReloadOptions(bad)
	require.ErrorIs(t, err, drover.ErrInvalidOptions)
	require.ErrorContains(t, err, "max_heartbeats_per_second")
}

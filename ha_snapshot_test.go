package drover_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

// counterValue reads one sample of a metric family from reg; labels pick it.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// snapshotCluster runs three servers that snapshot after 50 entries,
// check every 100 ms and keep 20 entries behind each snapshot.
func snapshotCluster(t *testing.T) (*testcluster.Cluster, []*prometheus.Registry) {
	regs := make([]*prometheus.Registry, 3)
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(i int, o *drover.ServerOptions) {
		regs[i] = prometheus.NewRegistry()
		o.Registerer = regs[i]
		o.Raft.SnapshotThreshold = 50
		o.Raft.SnapshotInterval = 100 * time.Millisecond
		o.Raft.TrailingLogs = 20
	}})
	return c, regs
}

func TestFollowerFarBehindCatchesUpFromSnapshot(t *testing.T) {
	c, regs := snapshotCluster(t)
	leader := c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var follower *testcluster.Member
	for _, m := range c.Members() {
		if m != leader {
			follower = m
			break
		}
	}
	follower.Stop()

	// Far more entries than the trailing logs, with snapshots taken on
	// the way: the entries the follower misses are compacted away.
	for i := range 300 {
		require.NoError(t, registerRetrying(ctx, leader.Server(), batchJob(fmt.Sprintf("job-%03d", i))))
	}
	harness.Eventually(t, 30*time.Second, "the leader to snapshot", func() bool {
		return counterValue(t, regs[leader.Index], "drover_raft_snapshots_total", map[string]string{"event": "taken"}) > 0 &&
			counterValue(t, regs[leader.Index], "drover_raft_snapshot_index", nil) > 250
	})

	require.NoError(t, follower.Start())
	harness.Eventually(t, 30*time.Second, "the follower to hold every job", func() bool {
		jobs, err := follower.Server().Jobs(drover.AllowStale(ctx), "", "")
		return err == nil && len(jobs) == 300
	})
	require.GreaterOrEqual(t, counterValue(t, regs[follower.Index], "drover_raft_snapshots_total", map[string]string{"event": "installed"}), 1.0,
		"the follower caught up from a snapshot, not from the log")
	require.GreaterOrEqual(t, counterValue(t, regs[leader.Index], "drover_raft_snapshots_total", map[string]string{"event": "sent"}), 1.0)

	// And it keeps up from the log afterwards.
	_, err := leader.Server().RegisterJob(ctx, batchJob("after"))
	require.NoError(t, err)
	_, err = follower.Server().Job(ctx, "", "after")
	require.NoError(t, err)
}

func TestEveryServerRestartsFromSnapshotAndLog(t *testing.T) {
	c, regs := snapshotCluster(t)
	leader := c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 120 {
		require.NoError(t, registerRetrying(ctx, leader.Server(), batchJob(fmt.Sprintf("job-%03d", i))))
	}
	// Once every server has a snapshot, write more that only the log holds.
	harness.Eventually(t, 30*time.Second, "every server to snapshot", func() bool {
		for _, r := range regs {
			if counterValue(t, r, "drover_raft_snapshot_index", nil) < 100 {
				return false
			}
		}
		return true
	})
	for i := 120; i < 130; i++ {
		require.NoError(t, registerRetrying(ctx, leader.Server(), batchJob(fmt.Sprintf("job-%03d", i))))
	}
	c.Shutdown()
	for _, m := range c.Members() {
		require.NoError(t, m.Start())
	}
	c.WaitLeader(30 * time.Second)
	for _, m := range c.Members() {
		jobs, err := m.Server().Jobs(ctx, "", "")
		require.NoError(t, err)
		require.Len(t, jobs, 130, "%s after restart", m.Name)
	}
}

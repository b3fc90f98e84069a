package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/structs"
)

// TestConcurrentAllocUpdatesShareRaftEntries: allocation updates that
// arrive together are written in fewer raft entries than calls, each
// caller hears the index of the entry holding its update, and every
// update is stored.
func TestConcurrentAllocUpdatesShareRaftEntries(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.RegisterNode(ctx, mockNode("n1"))
	require.NoError(t, err)
	const count = 16
	job := mockJob("web", count)
	job.TaskGroups[0].Tasks[0].Resources = &structs.Resources{CpuMhz: 10, MemoryMb: 10}
	_, err = s.RegisterJob(ctx, job)
	require.NoError(t, err)
	var allocs []*structs.Allocation
	waitState(t, s, "every allocation placed", func() bool {
		allocs = s.state.Snapshot().AllocsByNode("n1")
		return len(allocs) == count
	})

	indexes := make([]uint64, count)
	var wg sync.WaitGroup
	for i, a := range allocs {
		wg.Go(func() {
			idx, err := s.UpdateAllocations(ctx, "n1", "n1-secret", []*structs.Allocation{{Id: a.Id, ClientStatus: structs.AllocClientRunning}})
			require.NoError(t, err)
			indexes[i] = idx
		})
	}
	wg.Wait()
	distinct := map[uint64]bool{}
	for _, idx := range indexes {
		distinct[idx] = true
	}
	t.Logf("%d updates in %d raft entries", count, len(distinct))
	require.Less(t, len(distinct), count, "concurrent updates share entries")
	snap := s.state.Snapshot()
	for i, a := range allocs {
		got := snap.Alloc(a.Id)
		require.Equal(t, structs.AllocClientRunning, got.ClientStatus)
		require.Equal(t, indexes[i], got.ModifyIndex, "the caller hears the index of its own update")
	}
}

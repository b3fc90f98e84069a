package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/server/events"
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

// TestConcurrentRegistrationsShareRaftEntries: nodes that register
// together are written in fewer raft entries than registrations; each
// node is stored, its caller hears the index of the entry holding it and
// a TTL, and the event stream has a registration event for every node.
func TestConcurrentRegistrationsShareRaftEntries(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := s.Events(ctx, events.SubscribeRequest{Index: s.StateIndex() + 1,
		Topics: map[events.Topic][]string{events.TopicNode: {"*"}}})
	require.NoError(t, err)
	defer sub.Close()

	const count = 32
	indexes := make([]uint64, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			resp, err := s.RegisterNode(ctx, mockNode(fmt.Sprintf("n%02d", i)))
			require.NoError(t, err)
			require.Positive(t, resp.HeartbeatTtlMs)
			indexes[i] = resp.Meta.Index
		})
	}
	wg.Wait()
	distinct := map[uint64]bool{}
	for _, idx := range indexes {
		distinct[idx] = true
	}
	t.Logf("%d registrations in %d raft entries", count, len(distinct))
	require.Less(t, len(distinct), count, "concurrent registrations share entries")
	snap := s.state.Snapshot()
	for i := range count {
		n := snap.Node(fmt.Sprintf("n%02d", i))
		require.NotNil(t, n)
		require.Equal(t, structs.NodeStatusReady, n.Status)
		require.Equal(t, indexes[i], n.ModifyIndex, "the caller hears the index of its own registration")
	}
	registered := map[string]bool{}
	for len(registered) < count {
		for _, e := range nextBatch(t, sub).Events {
			require.Equal(t, events.TypeNodeRegistration, e.Type)
			registered[e.Key] = true
		}
	}
}

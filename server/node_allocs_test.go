package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/structs"
)

type pollResult struct {
	allocs []*structs.Allocation
	index  uint64
	err    error
}

// TestNodeAllocationsWakesOnlyForTheNodesOwnAllocations: a client's
// long-poll sleeps through writes that do not concern its node (another
// node registering, a job placed elsewhere) and answers, with the node's
// own index, when one of its allocations changes.
func TestNodeAllocationsWakesOnlyForTheNodesOwnAllocations(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.RegisterNode(ctx, mockNode("n1"))
	require.NoError(t, err)

	// A node without allocations answers at once with the state's index.
	allocs, idx, err := s.NodeAllocations(ctx, "n1", "n1-secret", 0, time.Second)
	require.NoError(t, err)
	require.Empty(t, allocs)
	require.Equal(t, s.StateIndex(), idx)

	poll := make(chan pollResult, 1)
	go func() {
		a, i, err := s.NodeAllocations(ctx, "n1", "n1-secret", idx, 20*time.Second)
		poll <- pollResult{a, i, err}
	}()
	// Writes that do not touch n1's allocations leave the poll waiting.
	reg, err := s.RegisterNode(ctx, mockNode("n2"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.StateIndex() >= reg.Meta.Index }, 10*time.Second, 5*time.Millisecond)
	select {
	case r := <-poll:
		t.Fatalf("the poll answered a change elsewhere: %+v", r)
	default:
	}
	// Make n2 ineligible so that the job lands on n1.
	_, err = s.UpdateNodeEligibility(ctx, "n2", structs.NodeIneligible)
	require.NoError(t, err)
	_, err = s.RegisterJob(ctx, mockJob("web", 1))
	require.NoError(t, err)
	var r pollResult
	select {
	case r = <-poll:
	case <-ctx.Done():
		t.Fatal("the poll missed the node's new allocation")
	}
	require.NoError(t, r.err)
	require.Len(t, r.allocs, 1)
	require.Equal(t, r.allocs[0].ModifyIndex, r.index, "the node's index is its allocations' last change")

	// Asking again from that index waits for the next change of n1's allocations.
	go func() {
		a, i, err := s.NodeAllocations(ctx, "n1", "n1-secret", r.index, 20*time.Second)
		poll <- pollResult{a, i, err}
	}()
	upd := []*structs.Allocation{{Id: r.allocs[0].Id, ClientStatus: structs.AllocClientRunning}}
	_, err = s.UpdateAllocations(ctx, "n1", "n1-secret", upd)
	require.NoError(t, err)
	select {
	case r2 := <-poll:
		require.NoError(t, r2.err)
		require.Greater(t, r2.index, r.index)
		require.Equal(t, structs.AllocClientRunning, r2.allocs[0].ClientStatus)
	case <-ctx.Done():
		t.Fatal("the poll missed the status change")
	}
}

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

// nodeWithWebJob starts a server with node n1 and a job of 3
// allocations, and returns it with a function asking, as n1, for its
// allocations.
func nodeWithWebJob(t *testing.T) (*Server, context.Context, func(*structs.NodeAllocsRequest) *structs.NodeAllocsResponse) {
	t.Helper()
	s := testServer(t, heartbeat.DefaultConfig())
	r := &rpcServer{s: s}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	_, err := s.RegisterNode(ctx, mockNode("n1"))
	require.NoError(t, err)
	_, err = s.RegisterJob(ctx, mockJob("web", 3))
	require.NoError(t, err)
	return s, ctx, func(req *structs.NodeAllocsRequest) *structs.NodeAllocsResponse {
		t.Helper()
		req.NodeId, req.SecretId = "n1", "n1-secret"
		resp, err := r.GetNodeAllocations(ctx, req)
		require.NoError(t, err)
		return resp
	}
}

// TestNodeAllocationsChangesSince: a client that holds the node's list as
// of an index gets back every allocation's id and, in full, only those
// changed after it: its own status report brings back the one allocation
// it reported, not the whole list; a collected allocation drops out of
// the ids; asking from zero gets everything in full.
func TestNodeAllocationsChangesSince(t *testing.T) {
	s, ctx, get := nodeWithWebJob(t)
	ask := func(since, minIndex uint64) *structs.NodeAllocsResponse {
		t.Helper()
		return get(&structs.NodeAllocsRequest{ChangesSince: since,
			Options: &structs.QueryOptions{MinQueryIndex: minIndex, MaxQueryTimeMs: 20_000}})
	}
	var full *structs.NodeAllocsResponse
	require.Eventually(t, func() bool { full = ask(0, 0); return len(full.Allocations) == 3 }, 10*time.Second, 10*time.Millisecond)
	require.False(t, full.ChangesOnly)
	require.Empty(t, full.AllocIds)
	index := full.Meta.Index

	// Nothing changed since index: a query that times out lists the ids only.
	short := get(&structs.NodeAllocsRequest{ChangesSince: index,
		Options: &structs.QueryOptions{MinQueryIndex: index, MaxQueryTimeMs: 1}})
	require.True(t, short.ChangesOnly)
	require.Empty(t, short.Allocations)
	require.ElementsMatch(t, ids(full.Allocations), short.AllocIds)

	reported := full.Allocations[1]
	_, err := s.UpdateAllocations(ctx, "n1", "n1-secret", []*structs.Allocation{{Id: reported.Id, ClientStatus: structs.AllocClientRunning}})
	require.NoError(t, err)
	changed := ask(index, index)
	require.True(t, changed.ChangesOnly)
	require.Len(t, changed.Allocations, 1, "only the reported allocation comes back in full")
	require.Equal(t, reported.Id, changed.Allocations[0].Id)
	require.Equal(t, structs.AllocClientRunning, changed.Allocations[0].ClientStatus)
	require.ElementsMatch(t, ids(full.Allocations), changed.AllocIds)

	// The allocation finishes and is collected: it leaves the ids.
	_, err = s.UpdateAllocations(ctx, "n1", "n1-secret", []*structs.Allocation{{Id: reported.Id, ClientStatus: structs.AllocClientFailed}})
	require.NoError(t, err)
	var gone *structs.NodeAllocsResponse
	purgeWebUntil(t, ctx, s, func() bool {
		gone = ask(changed.Meta.Index, 0)
		return len(gone.AllocIds) < 3
	})
	require.True(t, gone.ChangesOnly)
	require.NotContains(t, gone.AllocIds, reported.Id)
}

// TestNodeAllocationsOmitTheIdsUntilOneLeaves: a client that keeps the
// node's list itself (ids_when_removed) gets no ids while nothing leaves
// the node, only what changed; once an allocation is collected the answer
// lists the ids again, without it. A client that does not ask gets the
// ids every time.
func TestNodeAllocationsOmitTheIdsUntilOneLeaves(t *testing.T) {
	s, ctx, get := nodeWithWebJob(t)
	ask := func(since uint64, keepsList bool) *structs.NodeAllocsResponse {
		t.Helper()
		return get(&structs.NodeAllocsRequest{ChangesSince: since, IdsWhenRemoved: keepsList,
			Options: &structs.QueryOptions{MaxQueryTimeMs: 20_000}})
	}
	var full *structs.NodeAllocsResponse
	require.Eventually(t, func() bool { full = ask(0, true); return len(full.Allocations) == 3 }, 10*time.Second, 10*time.Millisecond)
	require.False(t, full.IdsOmitted, "a full answer omits nothing")
	index := full.Meta.Index

	reported := full.Allocations[1]
	_, err := s.UpdateAllocations(ctx, "n1", "n1-secret", []*structs.Allocation{{Id: reported.Id, ClientStatus: structs.AllocClientFailed}})
	require.NoError(t, err)
	changed := ask(index, true)
	require.True(t, changed.ChangesOnly)
	require.True(t, changed.IdsOmitted)
	require.Empty(t, changed.AllocIds)
	require.Equal(t, []string{reported.Id}, ids(changed.Allocations))
	listing := ask(index, false)
	require.False(t, listing.IdsOmitted, "a client that does not keep its list gets the ids")
	require.ElementsMatch(t, ids(full.Allocations), listing.AllocIds)

	var gone *structs.NodeAllocsResponse
	purgeWebUntil(t, ctx, s, func() bool {
		gone = ask(changed.Meta.Index, true)
		return !gone.IdsOmitted
	})
	require.True(t, gone.ChangesOnly)
	require.Less(t, len(gone.AllocIds), 3)
	require.NotContains(t, gone.AllocIds, reported.Id)
	later := ask(gone.Meta.Index, true)
	require.True(t, later.IdsOmitted, "nothing left after the collection the client has seen")
}

// TestNodeAllocationsWithoutReports: a client that keeps its own status
// reports (without_reports) is not woken by them and does not get them
// back; a change the servers make wakes it and brings back only what the
// servers changed, each with its AllocModifyIndex past the client's
// index. A client that does not ask gets its report back at once.
func TestNodeAllocationsWithoutReports(t *testing.T) {
	s, ctx, get := nodeWithWebJob(t)
	ask := func(since uint64, withoutReports bool, waitMs int64) *structs.NodeAllocsResponse {
		t.Helper()
		return get(&structs.NodeAllocsRequest{ChangesSince: since, IdsWhenRemoved: true, WithoutReports: withoutReports,
			Options: &structs.QueryOptions{MinQueryIndex: since, MaxQueryTimeMs: waitMs}})
	}
	var full *structs.NodeAllocsResponse
	require.Eventually(t, func() bool { full = ask(0, true, 20_000); return len(full.Allocations) == 3 }, 10*time.Second, 10*time.Millisecond)
	index := full.Meta.Index

	reported, stopped := full.Allocations[1], full.Allocations[0]
	reportIndex, err := s.UpdateAllocations(ctx, "n1", "n1-secret", []*structs.Allocation{{Id: reported.Id, ClientStatus: structs.AllocClientRunning}})
	require.NoError(t, err)
	quiet := ask(index, true, 1) // answers when its wait ends
	require.Equal(t, index, quiet.Meta.Index, "the node's own report is no change to it")
	require.Empty(t, quiet.Allocations)
	echoed := ask(index, false, 20_000)
	require.Equal(t, reportIndex, echoed.Meta.Index)
	require.Equal(t, []string{reported.Id}, ids(echoed.Allocations), "without the flag the report comes back")

	_, _, err = s.StopAllocation(ctx, stopped.Id)
	require.NoError(t, err)
	changed := ask(index, true, 20_000)
	require.Greater(t, changed.Meta.Index, reportIndex)
	require.Contains(t, ids(changed.Allocations), stopped.Id)
	require.NotContains(t, ids(changed.Allocations), reported.Id, "the report does not come back with the servers' change")
	for _, a := range changed.Allocations {
		require.Greater(t, a.AllocModifyIndex, index)
	}
}

// purgeWebUntil purges job web and collects garbage until seen says what
// it waited for came.
func purgeWebUntil(t *testing.T, ctx context.Context, s *Server, seen func() bool) {
	t.Helper()
	_, err := s.DeregisterJob(ctx, "default", "web", true)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		if _, err := s.GarbageCollect(ctx); err != nil {
			return false
		}
		return seen()
	}, 10*time.Second, 10*time.Millisecond)
}

func ids(allocs []*structs.Allocation) []string {
	out := make([]string, 0, len(allocs))
	for _, a := range allocs {
		out = append(out, a.Id)
	}
	return out
}

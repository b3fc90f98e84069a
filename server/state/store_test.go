package state

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/structs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// committer returns a function applying f in one transaction of s,
// committed at index.
func committer(s *Store) func(index uint64, f func(tx *Txn)) {
	return func(index uint64, f func(tx *Txn)) {
		tx := s.Begin()
		f(tx)
		tx.Commit(index)
	}
}

func alloc(id, node, job string) *structs.Allocation {
	return &structs.Allocation{Id: id, NodeId: node, JobId: job, Namespace: "default"}
}

func TestSnapshotIsolatedFromLaterWrites(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	tx.UpsertJob(&structs.Job{Id: "a", Namespace: "default"})
	tx.UpsertAlloc(alloc("x", "n1", "a"))
	tx.Commit(5)
	snap := s.Snapshot()

	tx = s.Begin()
	tx.UpsertJob(&structs.Job{Id: "b", Namespace: "default"})
	tx.UpsertAlloc(alloc("y", "n1", "b"))
	tx.DeleteJob("default", "a")
	tx.Commit(6)

	require.Equal(t, uint64(5), snap.Index())
	require.NotNil(t, snap.Job("default", "a"))
	require.Nil(t, snap.Job("default", "b"))
	require.Len(t, snap.AllocsByNode("n1"), 1)
	now := s.Snapshot()
	require.Equal(t, uint64(6), now.Index())
	require.Len(t, now.AllocsByNode("n1"), 2)
	require.Len(t, now.AllocsByJob("default", "b"), 1)
	require.Nil(t, now.Job("default", "a"))
}

func TestAllocIndexesFollowMoves(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	tx.UpsertAlloc(alloc("x", "n1", "a"))
	tx.Commit(1)
	// The same allocation, rewritten: indexes must not list it twice.
	tx = s.Begin()
	tx.UpsertAlloc(alloc("x", "n1", "a"))
	tx.Commit(2)
	require.Len(t, s.Snapshot().AllocsByNode("n1"), 1)
	require.Len(t, s.Snapshot().AllocsByJob("default", "a"), 1)
	// Moved to another node: only the new node lists it.
	tx = s.Begin()
	tx.UpsertAlloc(alloc("x", "n2", "a"))
	tx.Commit(3)
	require.Empty(t, s.Snapshot().AllocsByNode("n1"))
	require.Len(t, s.Snapshot().AllocsByNode("n2"), 1)
}

// TestTxnReadsBackWhatItWrote checks a transaction's reads of the
// allocations it wrote, deleted and rewrote, past the number it remembers
// (maxWritten), and the indexes it built with keys from one buffer.
func TestTxnReadsBackWhatItWrote(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	n := maxWritten + 500
	for i := range n {
		tx.UpsertAlloc(alloc(fmt.Sprintf("a%05d", i), fmt.Sprintf("n%d", i%10), fmt.Sprintf("j%d", i%3)))
	}
	for i := 0; i < n; i += 7 {
		tx.DeleteAlloc(fmt.Sprintf("a%05d", i))
	}
	for i := 0; i < n; i += 5 {
		if a := tx.Alloc(fmt.Sprintf("a%05d", i)); a != nil {
			upd := cloneAlloc(a)
			upd.ClientStatus = structs.AllocClientRunning
			tx.UpsertAlloc(upd)
		}
	}
	check := func(read func(id string) *structs.Allocation) {
		t.Helper()
		for i := range n {
			a := read(fmt.Sprintf("a%05d", i))
			if i%7 == 0 {
				require.Nil(t, a, "a%05d was deleted", i)
				continue
			}
			require.NotNil(t, a, "a%05d", i)
			require.Equal(t, i%5 == 0, a.ClientStatus == structs.AllocClientRunning, "a%05d", i)
		}
	}
	check(tx.Alloc)
	tx.Commit(1)
	snap := s.Snapshot()
	check(snap.Alloc)
	total := 0
	for node := range 10 {
		for _, a := range snap.AllocsByNode(fmt.Sprintf("n%d", node)) {
			require.Equal(t, fmt.Sprintf("n%d", node), a.NodeId)
			require.Same(t, snap.Alloc(a.Id), a)
			total++
		}
	}
	require.Equal(t, n-(n+6)/7, total)
	byJob := 0
	for job := range 3 {
		byJob += len(snap.AllocsByJob("default", fmt.Sprintf("j%d", job)))
	}
	require.Equal(t, total, byJob)
}

// TestNodeAllocsRemovedFollowsWhatLeavesANode: an allocation deleted or
// moved away counts against its node; a new one or an update does not; a
// restore counts against every node.
func TestNodeAllocsRemovedFollowsWhatLeavesANode(t *testing.T) {
	s := NewStore()
	commit := committer(s)
	commit(1, func(tx *Txn) {
		tx.UpsertAlloc(alloc("x", "n1", "a"))
		tx.UpsertAlloc(alloc("y", "n1", "a"))
	})
	require.Zero(t, s.NodeAllocsRemoved("n1"), "placed, nothing left")
	commit(2, func(tx *Txn) {
		upd := cloneAlloc(tx.Alloc("x"))
		upd.ClientStatus = structs.AllocClientRunning
		tx.UpsertAlloc(upd)
	})
	require.Zero(t, s.NodeAllocsRemoved("n1"), "an update takes nothing away")
	commit(3, func(tx *Txn) { tx.UpsertAlloc(alloc("x", "n2", "a")) })
	require.Equal(t, uint64(3), s.NodeAllocsRemoved("n1"), "moved away")
	require.Zero(t, s.NodeAllocsRemoved("n2"))
	commit(4, func(tx *Txn) { tx.DeleteAlloc("x") })
	require.Equal(t, uint64(4), s.NodeAllocsRemoved("n2"), "deleted")
	require.Equal(t, uint64(3), s.NodeAllocsRemoved("n1"))

	r := NewRestorer()
	r.alloc(alloc("z", "n3", "a"))
	s.Install(r, 9)
	require.Equal(t, uint64(9), s.NodeAllocsRemoved("n3"), "a restore may have taken anything away")
	require.Equal(t, uint64(9), s.NodeAllocsRemoved("n1"))
}

// TestNodeAllocsChangeWithoutReports: a node's own status report moves the
// node's change index and wakes its waiters, but not those that keep
// their reports (serverOnly); a change by the servers, a deletion and a
// restore wake both; a commit with both kinds counts as the servers'.
func TestNodeAllocsChangeWithoutReports(t *testing.T) {
	s := NewStore()
	commit := committer(s)
	commit(1, func(tx *Txn) { tx.UpsertAlloc(alloc("x", "n1", "a")) })
	report := func(tx *Txn) {
		cur := tx.Alloc("x")
		upd := cloneAlloc(cur)
		upd.ClientStatus = structs.AllocClientRunning
		tx.ReportAlloc(upd, cur)
	}
	idx, all := s.NodeAllocsChange("n1", false)
	require.Equal(t, uint64(1), idx)
	srvIdx, server := s.NodeAllocsChange("n1", true)
	require.Equal(t, uint64(1), srvIdx)

	commit(2, report)
	requireClosed(t, all, "a report wakes a waiter that hears reports")
	requireOpen(t, server, "a report does not wake a waiter that keeps its own")
	idx, all = s.NodeAllocsChange("n1", false)
	require.Equal(t, uint64(2), idx)
	srvIdx, _ = s.NodeAllocsChange("n1", true)
	require.Equal(t, uint64(1), srvIdx)
	require.Equal(t, structs.AllocClientRunning, s.Snapshot().Alloc("x").ClientStatus, "the report is stored")

	commit(3, func(tx *Txn) {
		report(tx)
		upd := cloneAlloc(tx.Alloc("x"))
		upd.DesiredStatus = structs.AllocDesiredStop
		tx.UpsertAlloc(upd)
	})
	requireClosed(t, all, "a change by the servers wakes every waiter")
	requireClosed(t, server, "a change by the servers wakes every waiter")
	srvIdx, server = s.NodeAllocsChange("n1", true)
	require.Equal(t, uint64(3), srvIdx)

	commit(4, func(tx *Txn) { tx.DeleteAlloc("x") })
	requireClosed(t, server, "a deletion is the servers'")
	srvIdx, server = s.NodeAllocsChange("n1", true)
	require.Equal(t, uint64(4), srvIdx)

	s.Install(NewRestorer(), 9)
	requireClosed(t, server, "a restore wakes every waiter")
	srvIdx, _ = s.NodeAllocsChange("n1", true)
	require.Equal(t, uint64(9), srvIdx)
}

// The by-node index keeps each allocation's two indexes beside it: what it
// answers follows every report and every change by the servers.
func TestNodeAllocsChangedSince(t *testing.T) {
	s := NewStore()
	commit := committer(s)
	at := func(a *structs.Allocation, index uint64) *structs.Allocation {
		a.ModifyIndex = index
		return a
	}
	commit(1, func(tx *Txn) {
		tx.UpsertAlloc(at(alloc("x", "n1", "a"), 1))
		tx.UpsertAlloc(at(alloc("y", "n1", "b"), 1))
		tx.UpsertAlloc(at(alloc("z", "n2", "a"), 1))
	})
	ids := func(allocs []*structs.Allocation) (out []string) {
		for _, a := range allocs {
			out = append(out, a.Id)
		}
		return out
	}
	changed, index := s.Snapshot().NodeAllocsChangedSince("n1", 0, true)
	require.Equal(t, []string{"x", "y"}, ids(changed), "since 0: all the node's")
	require.Equal(t, uint64(1), index)

	commit(2, func(tx *Txn) { // y's node reports on it
		cur := tx.Alloc("y")
		upd := cloneAlloc(cur)
		upd.ClientStatus, upd.ModifyIndex = structs.AllocClientRunning, 2
		tx.ReportAlloc(upd, cur)
	})
	snap := s.Snapshot()
	changed, index = snap.NodeAllocsChangedSince("n1", 1, false)
	require.Equal(t, []string{"y"}, ids(changed), "the report is a change")
	require.Equal(t, uint64(2), index)
	require.Equal(t, structs.AllocClientRunning, changed[0].ClientStatus, "the version answered is the stored one")
	changed, index = snap.NodeAllocsChangedSince("n1", 1, true)
	require.Empty(t, changed, "not one the servers made")
	require.Equal(t, uint64(1), index)

	commit(3, func(tx *Txn) { // the servers stop x
		upd := cloneAlloc(tx.Alloc("x"))
		upd.DesiredStatus, upd.ModifyIndex = structs.AllocDesiredStop, 3
		tx.UpsertAlloc(upd)
	})
	changed, index = s.Snapshot().NodeAllocsChangedSince("n1", 2, true)
	require.Equal(t, []string{"x"}, ids(changed))
	require.Equal(t, structs.AllocDesiredStop, changed[0].DesiredStatus)
	require.Equal(t, uint64(3), index)
	require.Equal(t, []string{"x", "y"}, s.Snapshot().NodeAllocIDs("n1"))

	commit(4, func(tx *Txn) {
		tx.DeleteAlloc("x")
		upd := cloneAlloc(tx.Alloc("z")) // z moves to n1
		upd.NodeId, upd.ModifyIndex = "n1", 4
		tx.UpsertAlloc(upd)
	})
	changed, index = s.Snapshot().NodeAllocsChangedSince("n1", 3, true)
	require.Equal(t, []string{"z"}, ids(changed))
	require.Equal(t, uint64(4), index)
	require.Equal(t, []string{"y", "z"}, s.Snapshot().NodeAllocIDs("n1"))
	require.Empty(t, s.Snapshot().NodeAllocIDs("n2"))
	changed, index = s.Snapshot().NodeAllocsChangedSince("n2", 0, false)
	require.Empty(t, changed)
	require.Zero(t, index)
}

func requireClosed(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	default:
		t.Fatal(msg)
	}
}

func requireOpen(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatal(msg)
	default:
	}
}

func TestWaitForIndex(t *testing.T) {
	s := NewStore()
	done := make(chan uint64)
	go func() { done <- s.WaitForIndex(context.Background(), 0) }()
	tx := s.Begin()
	tx.UpsertNode(&structs.Node{Id: "n"})
	tx.Commit(7)
	select {
	case idx := <-done:
		require.Equal(t, uint64(7), idx)
	case <-time.After(5 * time.Second):
		t.Fatal("a commit wakes blocked readers")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Equal(t, uint64(7), s.WaitForIndex(ctx, 7), "a done context returns the current index")
}

func TestPersistRestoreRoundTrip(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	tx.UpsertJob(&structs.Job{Id: "a", Namespace: "default"})
	tx.UpsertNode(&structs.Node{Id: "n"})
	tx.UpsertAlloc(alloc("x", "n", "a"))
	tx.UpsertEval(&structs.Evaluation{Id: "e", Namespace: "default", JobId: "a"})
	tx.Commit(9)
	p := s.Snapshot().Persist()

	r := NewStore()
	r.Restore(p)
	snap := r.Snapshot()
	require.Equal(t, uint64(9), snap.Index())
	require.NotNil(t, snap.Job("default", "a"))
	require.NotNil(t, snap.Node("n"))
	require.Len(t, snap.AllocsByNode("n"), 1)
	require.Len(t, snap.EvalsByJob("default", "a"), 1)
}

func TestViewSeesTheLiveTables(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	tx.UpsertNode(&structs.Node{Id: "n"})
	tx.Commit(3)
	var got *structs.Node
	var idx uint64
	s.View(func(v *Snapshot) { got, idx = v.Node("n"), v.Index() })
	require.Equal(t, "n", got.GetId())
	require.Equal(t, uint64(3), idx)
}

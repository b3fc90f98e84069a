package state

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/droverhq/drover/structs"
)

// updateState holds allocs allocations with UUID ids, 1,000 a job and 200
// a node (the cluster-scale run's shape), all pending.
func updateState(b *testing.B, allocs int) (*Store, []string) {
	b.Helper()
	s := NewStore()
	ids := make([]string, 0, allocs)
	nodes := make([]string, max(allocs/200, 1))
	for i := range nodes {
		nodes[i] = uuid.NewString()
	}
	for j := 0; j*1000 < allocs; j++ {
		tx := s.Begin()
		job := fmt.Sprintf("job-%05d", j)
		tx.UpsertJob(&structs.Job{Id: job, Namespace: "default", TaskGroups: []*structs.TaskGroup{{Name: "api"}}})
		for i := j * 1000; i < min((j+1)*1000, allocs); i++ {
			a := groupAlloc(uuid.NewString(), job, "api", structs.AllocClientPending, uint64(j+1))
			a.NodeId = nodes[i%len(nodes)]
			tx.UpsertAlloc(a)
			ids = append(ids, a.Id)
		}
		tx.Commit(uint64(j + 1))
	}
	return s, ids
}

// BenchmarkClientUpdateBatch is the FSM's path for a raft entry of clients'
// status reports: 170 allocations picked at random (about what one entry
// carries at a million allocations) each read, copied with its new status
// and replaced, in one transaction. Reported per allocation updated.
func BenchmarkClientUpdateBatch(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("allocs=%d", n), func(b *testing.B) {
			const batch = 170
			s, ids := updateState(b, n)
			rng := rand.New(rand.NewPCG(1, 2))
			index := s.Index()
			statuses := []string{structs.AllocClientRunning, structs.AllocClientPending}
			for i := 0; b.Loop(); i++ {
				index++
				tx := s.Begin()
				for range batch {
					cur := tx.Alloc(ids[rng.IntN(len(ids))])
					upd := cloneAlloc(cur)
					upd.ClientStatus = statuses[i%2]
					upd.ModifyIndex = index
					tx.ReportAlloc(upd, cur)
				}
				tx.Commit(index)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/update")
		})
	}
}

// BenchmarkNodeAllocsRead is what a node's long-poll reads at a million
// allocations (200 a node): the node's allocations changed by the servers
// after an index (none here, the common answer to a node whose own report
// woke nothing), against reading the whole list and each allocation's
// AllocModifyIndex, as long-polls did before the by-node index kept it.
func BenchmarkNodeAllocsRead(b *testing.B) {
	s, ids := updateState(b, 1_000_000)
	snap := s.Snapshot()
	nodes := make([]string, 0, 5000)
	for _, id := range ids[:5000] {
		nodes = append(nodes, snap.Alloc(id).NodeId)
	}
	since := s.Index()
	rng := rand.New(rand.NewPCG(3, 4))
	b.Run("changed-since", func(b *testing.B) {
		for b.Loop() {
			changed, _ := snap.NodeAllocsChangedSince(nodes[rng.IntN(len(nodes))], since, true)
			if len(changed) != 0 {
				b.Fatal("nothing changed after the last index")
			}
		}
	})
	b.Run("whole-list", func(b *testing.B) {
		for b.Loop() {
			var index uint64
			for _, a := range snap.AllocsByNode(nodes[rng.IntN(len(nodes))]) {
				index = max(index, a.AllocModifyIndex)
			}
			if index == 0 {
				b.Fatal("no allocations")
			}
		}
	})
}

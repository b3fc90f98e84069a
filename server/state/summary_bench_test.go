package state

import (
	"fmt"
	"testing"

	"github.com/droverhq/drover/structs"
)

// summaryState holds jobs × perJob allocations, half running, half complete.
func summaryState(b *testing.B, jobs, perJob int) *Store {
	b.Helper()
	s := NewStore()
	tx := s.Begin()
	for j := range jobs {
		id := fmt.Sprintf("job-%05d", j)
		tx.UpsertJob(&structs.Job{Id: id, Namespace: "default", TaskGroups: []*structs.TaskGroup{{Name: "api"}}})
		for a := range perJob {
			status := structs.AllocClientRunning
			if a%2 == 1 {
				status = structs.AllocClientComplete
			}
			tx.UpsertAlloc(groupAlloc(fmt.Sprintf("%s-%04d", id, a), id, "api", status, 1))
		}
	}
	tx.Commit(1)
	return s
}

// BenchmarkJobListSummaries lists every job with its summary, as the job
// list does: one lookup per job. walk-allocations is what it would cost
// to count each job's allocations instead.
func BenchmarkJobListSummaries(b *testing.B) {
	const jobs, perJob = 1000, 100
	s := summaryState(b, jobs, perJob)
	b.Run("kept-summaries", func(b *testing.B) {
		for b.Loop() {
			snap := s.Snapshot()
			n := 0
			for _, j := range snap.Jobs("default", "") {
				if js := snap.JobSummary(j.Namespace, j.Id); js != nil {
					n += int(js.Groups["api"].Running)
				}
			}
			if n != jobs*perJob/2 {
				b.Fatalf("counted %d running", n)
			}
		}
	})
	b.Run("walk-allocations", func(b *testing.B) {
		for b.Loop() {
			snap := s.Snapshot()
			n := 0
			for _, j := range snap.Jobs("default", "") {
				each(snap.t.allocByJob, prefixKey(j.Namespace, j.Id), func(a *structs.Allocation) bool {
					if a.ClientStatus == structs.AllocClientRunning {
						n++
					}
					return true
				})
			}
			if n != jobs*perJob/2 {
				b.Fatalf("counted %d running", n)
			}
		}
	})
}

// BenchmarkAllocStatusChange is one client update moving an allocation
// between statuses, in its own transaction: the write path the summaries
// add to.
func BenchmarkAllocStatusChange(b *testing.B) {
	s := summaryState(b, 1000, 100)
	statuses := []string{structs.AllocClientRunning, structs.AllocClientFailed}
	i := 0
	for b.Loop() {
		cur := s.Snapshot().Alloc("job-00042-0000")
		upd := cloneAlloc(cur)
		upd.ClientStatus = statuses[i%2]
		i++
		tx := s.Begin()
		tx.UpsertAlloc(upd)
		tx.Commit(uint64(i + 1))
	}
}

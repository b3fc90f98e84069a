package state

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

func groupAlloc(id, job, group, status string, index uint64) *structs.Allocation {
	return &structs.Allocation{
		Id: id, Namespace: "default", JobId: job, NodeId: "n1", TaskGroup: group, ClientStatus: status, ModifyIndex: index,
	}
}

func TestJobSummaryFollowsClientStatus(t *testing.T) {
	type counts = structs.TaskGroupSummary
	steps := []struct {
		name  string
		apply func(tx *Txn)
		want  map[string]*counts
	}{
		{"placed", func(tx *Txn) {
			tx.UpsertAlloc(groupAlloc("a1", "web", "api", structs.AllocClientPending, 2))
			tx.UpsertAlloc(groupAlloc("a2", "web", "api", structs.AllocClientPending, 2))
			tx.UpsertAlloc(groupAlloc("c1", "web", "cache", structs.AllocClientPending, 2))
		}, map[string]*counts{"api": {Starting: 2}, "cache": {Starting: 1}}},
		{"running", func(tx *Txn) {
			tx.UpsertAlloc(groupAlloc("a1", "web", "api", structs.AllocClientRunning, 3))
			tx.UpsertAlloc(groupAlloc("c1", "web", "cache", structs.AllocClientRunning, 3))
		}, map[string]*counts{"api": {Starting: 1, Running: 1}, "cache": {Running: 1}}},
		{"a desired-status change moves nothing", func(tx *Txn) {
			a := groupAlloc("a1", "web", "api", structs.AllocClientRunning, 4)
			a.DesiredStatus = structs.AllocDesiredStop
			tx.UpsertAlloc(a)
		}, map[string]*counts{"api": {Starting: 1, Running: 1}, "cache": {Running: 1}}},
		{"finished, failed, lost", func(tx *Txn) {
			tx.UpsertAlloc(groupAlloc("a1", "web", "api", structs.AllocClientComplete, 5))
			tx.UpsertAlloc(groupAlloc("a2", "web", "api", structs.AllocClientFailed, 5))
			tx.UpsertAlloc(groupAlloc("c1", "web", "cache", structs.AllocClientLost, 5))
		}, map[string]*counts{"api": {Complete: 1, Failed: 1}, "cache": {Lost: 1}}},
		{"unknown while disconnected", func(tx *Txn) {
			tx.UpsertAlloc(groupAlloc("c2", "web", "cache", allocClientUnknown, 6))
		}, map[string]*counts{"api": {Complete: 1, Failed: 1}, "cache": {Lost: 1, Unknown: 1}}},
		{"collected", func(tx *Txn) {
			tx.DeleteAlloc("a1")
			tx.DeleteAlloc("c1")
			tx.DeleteAlloc("c2")
		}, map[string]*counts{"api": {Failed: 1}}},
	}
	s := NewStore()
	for i, st := range steps {
		tx := s.Begin()
		st.apply(tx)
		tx.Commit(uint64(i + 2))
		js := s.Snapshot().JobSummary("default", "web")
		require.NotNil(t, js, st.name)
		require.Len(t, js.Groups, len(st.want), st.name)
		for g, want := range st.want {
			require.True(t, proto.Equal(want, js.Groups[g]), "%s: group %s: got %v", st.name, g, js.Groups[g])
		}
	}
	require.Equal(t, uint64(6), s.Snapshot().JobSummary("default", "web").ModifyIndex)
	tx := s.Begin()
	tx.DeleteAlloc("a2")
	tx.Commit(20)
	require.Nil(t, s.Snapshot().JobSummary("default", "web"), "nothing left to count: no summary")
}

func queuedEval(id, job string, index uint64, queued map[string]int32) *structs.Evaluation {
	return &structs.Evaluation{Id: id, Namespace: "default", JobId: job, ModifyIndex: index, QueuedAllocations: queued}
}

func queuedOf(s *Store, job string) map[string]int32 {
	out := map[string]int32{}
	if js := s.Snapshot().JobSummary("default", job); js != nil {
		for g, c := range js.Groups {
			if c.Queued > 0 {
				out[g] = c.Queued
			}
		}
	}
	return out
}

func TestJobSummaryQueuedComesFromTheLatestEvaluation(t *testing.T) {
	s := NewStore()
	commit := committer(s)
	commit(3, func(tx *Txn) { tx.UpsertEval(queuedEval("e1", "web", 3, map[string]int32{"api": 2, "cache": 1})) })
	require.Equal(t, map[string]int32{"api": 2, "cache": 1}, queuedOf(s, "web"))

	commit(5, func(tx *Txn) { tx.UpsertEval(queuedEval("e2", "web", 5, map[string]int32{"api": 1, "cache": 0})) })
	require.Equal(t, map[string]int32{"api": 1}, queuedOf(s, "web"))

	// An older evaluation written later (a restore's order) does not win.
	commit(6, func(tx *Txn) { tx.UpsertEval(queuedEval("e0", "web", 2, map[string]int32{"api": 9})) })
	require.Equal(t, map[string]int32{"api": 1}, queuedOf(s, "web"))

	// An evaluation that reports nothing (a stopped job's) leaves the counts.
	commit(7, func(tx *Txn) { tx.UpsertEval(queuedEval("e3", "web", 7, nil)) })
	require.Equal(t, map[string]int32{"api": 1}, queuedOf(s, "web"))

	// Collecting the source falls back to the next latest.
	commit(8, func(tx *Txn) { tx.DeleteEval("e2") })
	require.Equal(t, map[string]int32{"api": 2, "cache": 1}, queuedOf(s, "web"))

	// Several in one transaction: recomputed once, at commit.
	commit(9, func(tx *Txn) {
		tx.DeleteEval("e1")
		tx.DeleteEval("e0")
	})
	require.Empty(t, queuedOf(s, "web"))
	require.Nil(t, s.Snapshot().JobSummary("default", "web"))

	// An aborted transaction leaves nothing behind.
	tx := s.Begin()
	tx.UpsertEval(queuedEval("e4", "web", 10, map[string]int32{"api": 4}))
	tx.DeleteEval("e4")
	tx.Abort()
	commit(11, func(tx *Txn) {})
	require.Nil(t, s.Snapshot().JobSummary("default", "web"))
}

// referenceSummaries computes every job's summary from scratch.
func referenceSummaries(snap *Snapshot) map[string]*structs.JobSummary {
	out := map[string]*structs.JobSummary{}
	get := func(ns, job string) *structs.JobSummary {
		k := ns + "/" + job
		if out[k] == nil {
			out[k] = &structs.JobSummary{Namespace: ns, JobId: job, Groups: map[string]*structs.TaskGroupSummary{}}
		}
		return out[k]
	}
	group := func(js *structs.JobSummary, g string) *structs.TaskGroupSummary {
		if js.Groups[g] == nil {
			js.Groups[g] = &structs.TaskGroupSummary{}
		}
		return js.Groups[g]
	}
	for _, a := range snap.Allocs() {
		if b := summaryBucket(group(get(a.Namespace, a.JobId), a.TaskGroup), a.ClientStatus); b != nil {
			*b++
		}
	}
	latest := map[string]*structs.Evaluation{}
	for _, e := range snap.Evals() {
		k := e.Namespace + "/" + e.JobId
		l := latest[k]
		if len(e.QueuedAllocations) > 0 && (l == nil || e.ModifyIndex > l.ModifyIndex || (e.ModifyIndex == l.ModifyIndex && e.Id > l.Id)) {
			latest[k] = e
		}
	}
	for _, e := range latest {
		js := get(e.Namespace, e.JobId)
		js.QueuedEvalId, js.QueuedIndex = e.Id, e.ModifyIndex
		for g, n := range e.QueuedAllocations {
			group(js, g).Queued = n
		}
	}
	for k, js := range out {
		for g, c := range js.Groups {
			if proto.Equal(c, &structs.TaskGroupSummary{}) {
				delete(js.Groups, g)
			}
		}
		if len(js.Groups) == 0 && js.QueuedEvalId == "" {
			delete(out, k)
		}
	}
	return out
}

// requireSummariesMatch checks the kept summaries against a computation
// from scratch (all but the modify index, which remembers deleted objects).
func requireSummariesMatch(t *testing.T, snap *Snapshot, context string) {
	t.Helper()
	want := referenceSummaries(snap)
	got := 0
	snap.t.summaries.walkPrefix("", func(_ string, js *structs.JobSummary) bool {
		got++
		w := want[js.Namespace+"/"+js.JobId]
		require.NotNil(t, w, "%s: unexpected summary of %s", context, js.JobId)
		c := proto.Clone(js).(*structs.JobSummary)
		c.ModifyIndex = 0
		require.True(t, proto.Equal(w, c), "%s: job %s: want %v, got %v", context, js.JobId, w, c)
		return true
	})
	require.Equal(t, len(want), got, context)
}

func TestJobSummariesMatchTheTablesAndSurviveARestore(t *testing.T) {
	statuses := []string{
		structs.AllocClientPending, structs.AllocClientRunning, structs.AllocClientComplete,
		structs.AllocClientFailed, structs.AllocClientLost, allocClientUnknown,
	}
	rng := rand.New(rand.NewPCG(7, 11))
	s := NewStore()
	type keptSummaries struct {
		snap *Snapshot
		want map[string]string
	}
	var kept []keptSummaries
	for index := uint64(1); index <= 400; index++ {
		tx := s.Begin()
		for range 1 + rng.IntN(4) {
			job := fmt.Sprintf("job%d", rng.IntN(3))
			group := fmt.Sprintf("g%d", rng.IntN(2))
			switch rng.IntN(5) {
			case 0, 1:
				a := groupAlloc(fmt.Sprintf("a%d", rng.IntN(30)), job, group, statuses[rng.IntN(len(statuses))], index)
				tx.UpsertAlloc(a)
			case 2:
				tx.DeleteAlloc(fmt.Sprintf("a%d", rng.IntN(30)))
			case 3:
				var queued map[string]int32
				if rng.IntN(3) > 0 {
					queued = map[string]int32{group: int32(rng.IntN(3))}
				}
				tx.UpsertEval(queuedEval(fmt.Sprintf("e%d", rng.IntN(12)), job, index, queued))
			case 4:
				tx.DeleteEval(fmt.Sprintf("e%d", rng.IntN(12)))
			}
		}
		tx.Commit(index)
		requireSummariesMatch(t, s.Snapshot(), fmt.Sprintf("after index %d", index))
		kept = append(kept, keptSummaries{s.Snapshot(), copySummaries(s.Snapshot())})
	}
	// A transaction changes the summaries it made in place: none a
	// snapshot holds ever changed.
	for i, k := range kept {
		require.Equal(t, k.want, copySummaries(k.snap), "snapshot %d", i)
	}

	// A restore rebuilds the same summaries from the objects alone.
	r := NewStore()
	r.Restore(s.Snapshot().Persist())
	requireSummariesMatch(t, r.Snapshot(), "restored")
}

// copySummaries renders the summaries of job0..job2 as text, a copy that
// later changes to the objects cannot reach.
func copySummaries(snap *Snapshot) map[string]string {
	out := map[string]string{}
	for j := range 3 {
		job := fmt.Sprintf("job%d", j)
		if js := snap.JobSummary("default", job); js != nil {
			out[job] = prototext.Format(js)
		}
	}
	return out
}

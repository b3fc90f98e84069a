package gc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

var (
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg = Config{NodeGCThreshold: 24 * time.Hour, JobGCThreshold: 4 * time.Hour, EvalGCThreshold: time.Hour, BatchEvalGCThreshold: 24 * time.Hour}
)

// at is a time recorded in the state, d after t0.
func at(d time.Duration) int64 { return t0.Add(d).UnixNano() }

type world struct {
	st    *state.Store
	index uint64
}

func newWorld() *world { return &world{st: state.NewStore()} }

func (w *world) with(f func(tx *state.Txn)) *world {
	tx := w.st.Begin()
	f(tx)
	w.index++
	tx.Commit(w.index)
	return w
}

func collect(w *world, now time.Duration, kinds Kinds) *Result {
	return Collect(w.st.Snapshot(), cfg, t0.Add(now), kinds)
}

func eval(id, job, typ, status string, created uint64, modified time.Duration) *structs.Evaluation {
	return &structs.Evaluation{Id: id, Namespace: "default", JobId: job, Type: typ, Status: status,
		CreateIndex: created, ModifyTime: at(modified)}
}

func alloc(id, job, evalID, node, desired, client string, modified time.Duration) *structs.Allocation {
	return &structs.Allocation{Id: id, Namespace: "default", JobId: job, EvalId: evalID, NodeId: node,
		DesiredStatus: desired, ClientStatus: client, ModifyTime: at(modified)}
}

func TestEvalThresholdReapsExactlyWhatPassedIt(t *testing.T) {
	w := newWorld().with(func(tx *state.Txn) {
		tx.UpsertJob(&structs.Job{Id: "svc", Namespace: "default", Type: "service", Status: "running"})
		tx.UpsertEval(eval("old", "svc", "service", "complete", 1, 0))
		tx.UpsertEval(eval("young", "svc", "service", "complete", 2, 30*time.Minute))
		tx.UpsertEval(eval("pending", "svc", "service", "pending", 3, 0))
		tx.UpsertAlloc(alloc("a-old", "svc", "old", "n", "stop", "complete", 0))
	})
	require.Empty(t, collect(w, 59*time.Minute, All).Evals, "nothing is younger than its threshold")
	r := collect(w, time.Hour, All)
	require.Equal(t, []string{"old"}, r.Evals)
	require.Equal(t, []string{"a-old"}, r.Allocs, "an evaluation goes with its allocations")
	r = collect(w, 10*time.Hour, All)
	require.Equal(t, []string{"old", "young"}, r.Evals, "a pending evaluation is never collected")
}

func TestEvalWithLiveAllocationIsKept(t *testing.T) {
	w := newWorld().with(func(tx *state.Txn) {
		tx.UpsertJob(&structs.Job{Id: "svc", Namespace: "default", Type: "service", Status: "running"})
		tx.UpsertEval(eval("e", "svc", "service", "complete", 1, 0))
		tx.UpsertAlloc(alloc("running", "svc", "e", "n", "run", "running", 0))
	})
	require.Empty(t, collect(w, 100*time.Hour, All).Evals)
}

func TestLatestBatchEvalSurvives(t *testing.T) {
	w := newWorld().with(func(tx *state.Txn) {
		tx.UpsertJob(&structs.Job{Id: "b", Namespace: "default", Type: "batch", Status: "running"})
		tx.UpsertEval(eval("first", "b", "batch", "complete", 1, 0))
		tx.UpsertEval(eval("latest", "b", "batch", "complete", 2, 0))
	})
	require.Empty(t, collect(w, 23*time.Hour, All).Evals, "batch evaluations use the batch threshold")
	require.Equal(t, []string{"first"}, collect(w, 1000*time.Hour, All).Evals)
	require.Equal(t, []string{"first"}, Collect(w.st.Snapshot(), cfg.Force(), t0, All).Evals,
		"even a forced collection keeps the latest batch evaluation")
}

func TestDeadJobReapedWithEverything(t *testing.T) {
	w := newWorld().with(func(tx *state.Txn) {
		tx.UpsertJob(&structs.Job{Id: "gone", Namespace: "default", Type: "service", Status: "dead", Stop: true, StatusUpdatedAt: at(0)})
		tx.UpsertEval(eval("e1", "gone", "service", "complete", 1, 0))
		tx.UpsertAlloc(alloc("a1", "gone", "e1", "n", "stop", "complete", 0))
		tx.UpsertJob(&structs.Job{Id: "live", Namespace: "default", Type: "service", Status: "running", StatusUpdatedAt: at(0)})
		tx.UpsertJob(&structs.Job{Id: "stopping", Namespace: "default", Type: "service", Status: "dead", Stop: true, StatusUpdatedAt: at(0)})
		tx.UpsertAlloc(alloc("a2", "stopping", "e2", "n", "stop", "running", 0))
	})
	require.Empty(t, collect(w, 4*time.Hour-time.Second, Kinds{Jobs: true}).Jobs)
	r := collect(w, 4*time.Hour, Kinds{Jobs: true})
	require.Equal(t, []JobRef{{"default", "gone"}}, r.Jobs)
	require.Equal(t, []string{"e1"}, r.Evals)
	require.Equal(t, []string{"a1"}, r.Allocs)
}

func TestNodeWithRunningAllocationIsNeverPurged(t *testing.T) {
	w := newWorld().with(func(tx *state.Txn) {
		tx.UpsertNode(&structs.Node{Id: "idle", Status: "down", StatusUpdatedAt: at(0)})
		tx.UpsertNode(&structs.Node{Id: "busy", Status: "down", StatusUpdatedAt: at(0)})
		tx.UpsertNode(&structs.Node{Id: "up", Status: "ready", StatusUpdatedAt: at(0)})
		tx.UpsertAlloc(alloc("lost", "j", "e", "idle", "stop", "lost", 0))
		tx.UpsertAlloc(alloc("still", "j", "e", "busy", "run", "running", 0))
	})
	require.Empty(t, collect(w, 23*time.Hour, Kinds{Nodes: true}).Nodes)
	r := collect(w, 24*time.Hour, Kinds{Nodes: true})
	require.Equal(t, []string{"idle"}, r.Nodes)
	require.Equal(t, []string{"lost"}, r.Allocs)
	require.Equal(t, []string{"idle"}, Collect(w.st.Snapshot(), cfg.Force(), t0, Kinds{Nodes: true}).Nodes,
		"a forced collection still keeps nodes with work")
}

func TestKindsSelectWhatIsCollected(t *testing.T) {
	w := newWorld().with(func(tx *state.Txn) {
		tx.UpsertNode(&structs.Node{Id: "n", Status: "down", StatusUpdatedAt: at(0)})
		tx.UpsertEval(eval("e", "j", "service", "complete", 1, 0))
	})
	r := collect(w, 1000*time.Hour, Kinds{Evals: true})
	require.Empty(t, r.Nodes)
	require.Equal(t, []string{"e"}, r.Evals)
}

func TestBatchesSplitAndKeepEverything(t *testing.T) {
	r := &Result{Allocs: []string{"a1", "a2", "a3"}, Evals: []string{"e1", "e2"}, Jobs: []JobRef{{"default", "j"}}, Nodes: []string{"n"}}
	batches := Batches(r, 3)
	require.Len(t, batches, 3)
	total := &Result{}
	for _, b := range batches {
		require.LessOrEqual(t, b.Len(), 3)
		total.Allocs = append(total.Allocs, b.Allocs...)
		total.Evals = append(total.Evals, b.Evals...)
		total.Jobs = append(total.Jobs, b.Jobs...)
		total.Nodes = append(total.Nodes, b.Nodes...)
	}
	require.Equal(t, r, total)
	require.Equal(t, []string{"a1", "a2", "a3"}, batches[0].Allocs, "allocations go first, so no batch orphans them")
	require.Empty(t, Batches(&Result{}, 3))
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	require.Equal(t, DefaultConfig(), Config{}.WithDefaults())
	c := Config{JobGCThreshold: time.Minute}.WithDefaults()
	require.Equal(t, time.Minute, c.JobGCThreshold)
	require.Equal(t, 24*time.Hour, c.NodeGCThreshold)
	err := Config{JobGCInterval: -1, NodeGCThreshold: -2}.Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, "gc: invalid config: node_gc_threshold must not be negative, got -2ns\n"+
		"gc: invalid config: job_gc_interval must not be negative, got -1ns", err.Error(), "every problem, in field order")
}

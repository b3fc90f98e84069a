package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// windowFSM is an FSM holding node n (ready) with one running allocation
// per group of job j: "short" (a 1m window), "long" (5m) and "none" (no
// window), plus one allocation of "long" already stopping.
func windowFSM(t *testing.T) *fsm {
	t.Helper()
	f := &fsm{state: state.NewStore()}
	job := mockJob("j", 1)
	job.Namespace = structs.DefaultNamespace
	g := job.TaskGroups[0]
	job.TaskGroups = nil
	for name, w := range map[string]time.Duration{"short": time.Minute, "long": 5 * time.Minute, "none": 0} {
		tg := proto.Clone(g).(*structs.TaskGroup)
		tg.Name = name
		if w > 0 {
			tg.MaxClientDisconnect = durationpb.New(w)
		}
		job.TaskGroups = append(job.TaskGroups, tg)
	}
	tx := f.state.Begin()
	n := mockNode("n")
	n.Status = structs.NodeStatusReady
	tx.UpsertNode(n)
	tx.UpsertJobVersion(job, 6)
	for _, id := range []string{"short", "long", "none", "stopping"} {
		group, desired := id, structs.AllocDesiredRun
		if id == "stopping" {
			group, desired = "long", structs.AllocDesiredStop
		}
		tx.UpsertAlloc(&structs.Allocation{
			Id: id, Namespace: job.Namespace, Name: "j." + group + "[0]", NodeId: "n", JobId: "j", Job: job,
			TaskGroup: group, DesiredStatus: desired, ClientStatus: structs.AllocClientRunning,
		})
	}
	tx.Commit(1)
	return f
}

func applyAt(t *testing.T, f *fsm, index uint64, at time.Time, cmd *structs.LogCommand) {
	t.Helper()
	cmd.Time = at.UnixNano()
	require.NoError(t, f.Apply(index, proto.CloneOf(cmd)))
}

func nodeStatusCmd(status string) *structs.LogCommand {
	return &structs.LogCommand{Command: &structs.LogCommand_NodeStatus{NodeStatus: &structs.NodeStatusUpdate{NodeId: "n", Status: status}}}
}

func expiryCmd() *structs.LogCommand {
	return &structs.LogCommand{Command: &structs.LogCommand_NodeDisconnectExpiry{
		NodeDisconnectExpiry: &structs.NodeDisconnectExpiry{NodeId: "n"},
	}}
}

func TestFSMDisconnectWindows(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	f := windowFSM(t)
	applyAt(t, f, 2, t0, nodeStatusCmd(structs.NodeStatusDisconnected))
	snap := f.state.Snapshot()
	require.Equal(t, structs.NodeStatusDisconnected, snap.Node("n").Status)
	for id, want := range map[string]string{
		"short": structs.AllocClientUnknown, "long": structs.AllocClientUnknown,
		"none": structs.AllocClientLost, "stopping": structs.AllocClientLost,
	} {
		a := snap.Alloc(id)
		require.Equal(t, want, a.ClientStatus, id)
		if want == structs.AllocClientUnknown {
			require.Equal(t, t0.UnixNano(), a.DisconnectedAt, "%s: the entry's clock", id)
			require.Equal(t, structs.AllocDesiredRun, a.DesiredStatus, "%s waits, still wanted", id)
		} else {
			require.Zero(t, a.DisconnectedAt, id)
			require.Equal(t, structs.AllocDesiredStop, a.DesiredStatus, id)
		}
	}
	require.Equal(t, structs.JobStatusRunning, snap.Job(structs.DefaultNamespace, "j").Status, "unknown allocations keep the job running")

	// Before any window ends nothing changes; the short one ends first.
	applyAt(t, f, 3, t0.Add(59*time.Second), expiryCmd())
	require.Equal(t, structs.AllocClientUnknown, f.state.Snapshot().Alloc("short").ClientStatus)
	applyAt(t, f, 4, t0.Add(time.Minute), expiryCmd())
	snap = f.state.Snapshot()
	require.Equal(t, structs.AllocClientLost, snap.Alloc("short").ClientStatus)
	require.Equal(t, structs.AllocDesiredStop, snap.Alloc("short").DesiredStatus)
	require.Equal(t, structs.AllocClientUnknown, snap.Alloc("long").ClientStatus)
	require.Equal(t, structs.NodeStatusDisconnected, snap.Node("n").Status, "a window is still open")

	applyAt(t, f, 5, t0.Add(5*time.Minute), expiryCmd())
	snap = f.state.Snapshot()
	require.Equal(t, structs.AllocClientLost, snap.Alloc("long").ClientStatus)
	require.Equal(t, structs.NodeStatusDown, snap.Node("n").Status, "the last window ran out")
	require.Equal(t, t0.Add(5*time.Minute).UnixNano(), snap.Node("n").StatusUpdatedAt)
}

func TestFSMDisconnectWithoutWindowsIsDown(t *testing.T) {
	f := windowFSM(t)
	tx := f.state.Begin()
	for _, id := range []string{"short", "long"} {
		a := state.CloneAlloc(tx.Alloc(id))
		a.ClientStatus = structs.AllocClientComplete
		tx.UpsertAlloc(a)
	}
	tx.Commit(2)
	applyAt(t, f, 3, time.Unix(1_700_000_000, 0), nodeStatusCmd(structs.NodeStatusDisconnected))
	snap := f.state.Snapshot()
	require.Equal(t, structs.NodeStatusDown, snap.Node("n").Status, "nothing waits for the node")
	require.Equal(t, structs.AllocClientLost, snap.Alloc("none").ClientStatus)
	require.Equal(t, structs.AllocClientComplete, snap.Alloc("short").ClientStatus, "finished work stays finished")
}

func TestFSMDisconnectExpiryLeavesAReconnectedNodeAlone(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	f := windowFSM(t)
	applyAt(t, f, 2, t0, nodeStatusCmd(structs.NodeStatusDisconnected))
	applyAt(t, f, 3, t0.Add(time.Second), nodeStatusCmd(structs.NodeStatusReady))
	before := f.state.Snapshot()
	applyAt(t, f, 4, t0.Add(time.Hour), expiryCmd())
	after := f.state.Snapshot()
	require.Equal(t, structs.NodeStatusReady, after.Node("n").Status)
	for _, id := range []string{"short", "long"} {
		require.True(t, proto.Equal(before.Alloc(id), after.Alloc(id)), "%s untouched", id)
		require.Equal(t, structs.AllocClientUnknown, after.Alloc(id).ClientStatus, "its client reports it")
	}
}

func TestPlanTakesBackAReconnectedAllocation(t *testing.T) {
	f := windowFSM(t)
	t0 := time.Unix(1_700_000_000, 0)
	applyAt(t, f, 2, t0, nodeStatusCmd(structs.NodeStatusDisconnected))
	tx := f.state.Begin()
	a := state.CloneAlloc(tx.Alloc("short"))
	a.NextAllocation = "repl"
	tx.UpsertAlloc(a)
	tx.Commit(3)
	applyAt(t, f, 4, t0.Add(time.Second), &structs.LogCommand{Command: &structs.LogCommand_PlanApply{PlanApply: &structs.PlanApply{
		Result: &structs.PlanResult{NodeUpdate: []*structs.Allocation{{Id: "short", ReconnectedAt: t0.Add(time.Second).UnixNano()}}},
	}}})
	got := f.state.Snapshot().Alloc("short")
	require.Zero(t, got.DisconnectedAt)
	require.Empty(t, got.NextAllocation)
	require.Equal(t, t0.Add(time.Second).UnixNano(), got.ReconnectedAt)
	require.Equal(t, structs.AllocDesiredRun, got.DesiredStatus, "a reconnection changes no desired status")
	require.Equal(t, structs.AllocClientUnknown, got.ClientStatus, "until its client reports it")
}

package server

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// recordingListener keeps the events and evaluations the FSM reports.
type recordingListener struct {
	entries []uint64
	events  map[uint64][]events.Event
	evals   []string
}

func (l *recordingListener) evalsApplied(evals []*structs.Evaluation) {
	for _, e := range evals {
		l.evals = append(l.evals, e.Id)
	}
}
func (l *recordingListener) capacityChanged(uint64, map[string]bool)                {}
func (l *recordingListener) schedulerConfigChanged(*structs.SchedulerConfiguration) {}
func (l *recordingListener) stateRestored(uint64)                                   {}
func (l *recordingListener) eventsAt(r objectReader, index uint64, cmd *structs.LogCommand) []events.Event {
	return eventsFor(r, index, cmd)
}
func (l *recordingListener) entryApplied(index uint64, _ *structs.LogCommand, evs []events.Event) {
	if l.events == nil {
		l.events = map[uint64][]events.Event{}
	}
	l.entries = append(l.entries, index)
	l.events[index] = evs
}

// batchCommands registers a node and a job, changes the job, deletes a
// job that does not exist and changes the node: one object changed twice,
// and one command refused, among others.
func batchCommands() []raft.Command {
	job := mockJob("web", 1)
	job.Namespace = structs.DefaultNamespace
	changed := proto.Clone(job).(*structs.Job)
	changed.TaskGroups[0].Count = 3
	node := mockNode("n1")
	return []raft.Command{
		{Index: 10, Cmd: &structs.LogCommand{Command: &structs.LogCommand_NodeUpsert{NodeUpsert: &structs.NodeUpsert{Node: node}}}},
		{Index: 11, Cmd: &structs.LogCommand{Command: &structs.LogCommand_JobUpsert{JobUpsert: &structs.JobUpsert{
			Job: job, Eval: &structs.Evaluation{Id: "e1", Namespace: job.Namespace, JobId: job.Id, Status: structs.EvalStatusPending}}}}},
		{Index: 12, Cmd: &structs.LogCommand{Command: &structs.LogCommand_JobUpsert{JobUpsert: &structs.JobUpsert{
			Job: changed, Eval: &structs.Evaluation{Id: "e2", Namespace: job.Namespace, JobId: job.Id, Status: structs.EvalStatusPending}}}}},
		{Index: 13, Cmd: &structs.LogCommand{Command: &structs.LogCommand_JobDelete{JobDelete: &structs.JobDelete{Namespace: "default", JobId: "nope"}}}},
		{Index: 14, Cmd: &structs.LogCommand{Command: &structs.LogCommand_NodeStatus{NodeStatus: &structs.NodeStatusUpdate{NodeId: "n1", Status: structs.NodeStatusDown}}}},
	}
}

// TestApplyBatchMatchesOneByOne applies the same commands as one batch and
// one at a time: the states, the errors, the evaluations and the events
// (each read as its own command left the state) are the same.
func TestApplyBatchMatchesOneByOne(t *testing.T) {
	var one, batch recordingListener
	f1 := &fsm{state: state.NewStore(), listener: &one}
	f2 := &fsm{state: state.NewStore(), listener: &batch}

	var errs1 []error
	for _, c := range batchCommands() {
		errs1 = append(errs1, f1.Apply(c.Index, c.Cmd))
	}
	errs2 := f2.ApplyBatch(batchCommands())

	require.Len(t, errs2, len(errs1))
	for i := range errs1 {
		require.Equal(t, errs1[i] == nil, errs2[i] == nil, "command %d", i)
	}
	require.ErrorIs(t, errs2[3], structs.ErrNotFound)
	require.Equal(t, f1.state.Index(), f2.state.Index())
	require.Equal(t, uint64(14), f2.state.Index())
	s1, s2 := f1.state.Snapshot(), f2.state.Snapshot()
	require.True(t, proto.Equal(s1.Job("default", "web"), s2.Job("default", "web")))
	require.True(t, proto.Equal(s1.Node("n1"), s2.Node("n1")))
	require.Equal(t, structs.NodeStatusDown, s2.Node("n1").Status)

	require.Equal(t, one.entries, batch.entries)
	require.Equal(t, one.evals, batch.evals)
	for _, idx := range one.entries {
		require.Len(t, batch.events[idx], len(one.events[idx]), "events of %d", idx)
		for i, ev := range one.events[idx] {
			got := batch.events[idx][i]
			require.Equal(t, ev.Topic, got.Topic)
			require.Equal(t, ev.Type, got.Type)
			require.Equal(t, ev.Key, got.Key)
			require.True(t, proto.Equal(ev.Payload.(proto.Message), got.Payload.(proto.Message)), "event %d of %d", i, idx)
		}
	}
	// The job changed twice within the batch; each event shows its version.
	require.Equal(t, uint64(11), batch.events[11][0].Payload.(*structs.Job).ModifyIndex)
	require.Equal(t, uint64(12), batch.events[12][0].Payload.(*structs.Job).ModifyIndex)
}

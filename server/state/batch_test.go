package state

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

func TestBatchStateSurvivesSnapshotsAndIsBounded(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	tx.UpsertJobVersion(&structs.Job{Id: "p", Namespace: "default", Periodic: &structs.PeriodicConfig{Specs: []string{"@daily"}}}, 6)
	tx.UpsertJobVersion(&structs.Job{Id: "p/periodic-1", Namespace: "default", ParentId: "p", Status: structs.JobStatusDead}, 6)
	tx.UpsertJobVersion(&structs.Job{Id: "p/periodic-2", Namespace: "default", ParentId: "p", Status: structs.JobStatusRunning}, 6)
	tx.UpsertJobVersion(&structs.Job{Id: "px", Namespace: "default"}, 6)
	tx.SetPeriodicLaunch(&structs.PeriodicLaunch{Namespace: "default", JobId: "p", Launch: 42})
	for i := range structs.MaxScalingEvents + 5 {
		tx.AddScalingEvent("default", "px", "g", uint64(i), &structs.ScalingEvent{Count: int64(i), HasCount: true})
	}
	tx.Commit(10)
	snap := s.Snapshot()
	require.Len(t, snap.JobChildren("default", "p"), 2, "px is not a child of p")
	require.Equal(t, &structs.JobChildrenSummary{Running: 1, Dead: 1}, snap.ChildrenSummary("default", "p"))
	events := snap.ScalingEvents("default", "px").Groups["g"].Events
	require.Len(t, events, structs.MaxScalingEvents)
	require.EqualValues(t, structs.MaxScalingEvents+4, events[len(events)-1].Count, "the newest kept")

	// Through a streamed snapshot and a whole one.
	r := NewRestorer()
	require.NoError(t, snap.Walk(func(field protowire.Number, m proto.Message) error {
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		fresh := NewMessage(field)
		require.NoError(t, proto.Unmarshal(b, fresh))
		return r.Add(field, fresh)
	}))
	walked := NewStore()
	walked.Install(r, snap.Index())
	whole := NewStore()
	whole.Restore(snap.Persist())
	for _, got := range []*Snapshot{walked.Snapshot(), whole.Snapshot()} {
		require.True(t, proto.Equal(snap.Persist(), got.Persist()))
		require.EqualValues(t, 42, got.PeriodicLaunch("default", "p").Launch)
	}

	// Deleting a job drops its batch state.
	tx = s.Begin()
	tx.DeleteJob("default", "p")
	tx.DeleteJob("default", "px")
	tx.Commit(11)
	require.Nil(t, s.Snapshot().PeriodicLaunch("default", "p"))
	require.Nil(t, s.Snapshot().ScalingEvents("default", "px"))
}

package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

func deployment(id string, createIndex uint64) *structs.Deployment {
	return &structs.Deployment{
		Id: id, Namespace: "default", JobId: "web", JobVersion: 1, Status: structs.DeploymentStatusRunning,
		CreateIndex: createIndex,
		TaskGroups: map[string]*structs.DeploymentState{"api": {
			DesiredTotal: 2, ProgressDeadline: durationpb.New(time.Minute),
		}},
	}
}

func TestDeploymentCountsFollowPlacementsAndHealth(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	tx.UpsertJobVersion(&structs.Job{Id: "web", Namespace: "default", Version: 1}, 6)
	tx.UpsertDeployment(deployment("d1", 3))
	tx.Commit(3)

	place := func(index uint64, a *structs.Allocation) {
		tx := s.Begin()
		old := tx.Alloc(a.Id)
		tx.UpsertAlloc(a)
		tx.TrackDeploymentAlloc(index, int64(index)*int64(time.Second), a, old)
		tx.Commit(index)
	}
	a := &structs.Allocation{Id: "a", Namespace: "default", JobId: "web", TaskGroup: "api", DeploymentId: "d1", ModifyTime: int64(4 * time.Second)}
	c := &structs.Allocation{Id: "c", Namespace: "default", JobId: "web", TaskGroup: "api", DeploymentId: "d1",
		DeploymentStatus: &structs.AllocDeploymentStatus{Canary: true}, ModifyTime: int64(5 * time.Second)}
	place(4, a)
	place(5, c)
	g := s.Snapshot().Deployment("d1").TaskGroups["api"]
	require.Equal(t, int32(2), g.PlacedAllocs)
	require.Equal(t, []string{"c"}, g.PlacedCanaries)
	require.Equal(t, int64(4*time.Second+time.Minute), g.RequireProgressBy, "the first placement starts the progress deadline")

	healthy := proto.CloneOf(a)
	healthy.DeploymentStatus = &structs.AllocDeploymentStatus{Healthy: proto.Bool(true), Timestamp: int64(30 * time.Second)}
	place(6, healthy)
	g = s.Snapshot().Deployment("d1").TaskGroups["api"]
	require.Equal(t, int32(1), g.HealthyAllocs)
	require.Equal(t, int64(30*time.Second+time.Minute), g.RequireProgressBy, "progress moves the deadline on")

	place(7, healthy) // the same health again counts once
	sick := proto.CloneOf(healthy)
	sick.DeploymentStatus = &structs.AllocDeploymentStatus{Healthy: proto.Bool(false)}
	place(8, sick)
	d := s.Snapshot().Deployment("d1")
	g = d.TaskGroups["api"]
	require.Equal(t, int32(0), g.HealthyAllocs)
	require.Equal(t, int32(1), g.UnhealthyAllocs)
	require.Equal(t, int32(2), g.PlacedAllocs)
	require.Equal(t, uint64(8), d.ModifyIndex)

	snap := s.Snapshot()
	require.Len(t, snap.AllocsByDeployment("d1"), 2)
	require.Len(t, snap.ActiveDeployments(), 1)
}

func TestDeploymentStatusAndStability(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	for v := uint64(0); v < 2; v++ {
		tx.UpsertJobVersion(&structs.Job{Id: "web", Namespace: "default", Version: v, CreateIndex: 1}, 6)
	}
	tx.UpsertDeployment(deployment("old", 2))
	tx.UpsertDeployment(deployment("new", 5))
	tx.Commit(5)

	snap := s.Snapshot()
	require.Equal(t, "new", snap.LatestDeployment("default", "web").Id)
	require.Len(t, snap.DeploymentsByJob("default", "web"), 2)
	require.Len(t, snap.Deployments("other", ""), 0)

	tx = s.Begin()
	require.True(t, tx.UpdateDeploymentStatus(6, 60, &structs.DeploymentStatusUpdate{
		DeploymentId: "new", Status: structs.DeploymentStatusSuccessful, StatusDescription: structs.DeploymentDescSuccessful,
	}))
	require.False(t, tx.UpdateDeploymentStatus(6, 60, &structs.DeploymentStatusUpdate{
		DeploymentId: "new", Status: structs.DeploymentStatusFailed,
	}), "a deployment that ended stays as it ended")
	tx.Commit(6)
	snap = s.Snapshot()
	require.Equal(t, structs.DeploymentStatusSuccessful, snap.Deployment("new").Status)
	require.Equal(t, []string{"old"}, ids(snap.ActiveDeployments()))
	job := snap.Job("default", "web")
	require.True(t, job.Stable, "success marks the job's version stable")
	require.Equal(t, uint64(6), job.ModifyIndex)
	require.True(t, snap.JobVersion("default", "web", 1).Stable)
	require.False(t, snap.JobVersion("default", "web", 0).Stable)

	tx = s.Begin()
	require.True(t, tx.SetJobStability(7, "default", "web", 0, true))
	require.False(t, tx.SetJobStability(7, "default", "web", 9, true))
	tx.DeleteDeployment("old")
	tx.Commit(7)
	snap = s.Snapshot()
	require.True(t, snap.JobVersion("default", "web", 0).Stable)
	require.Equal(t, uint64(6), snap.Job("default", "web").ModifyIndex, "an older version's stability leaves the job alone")
	require.Empty(t, snap.ActiveDeployments())
	require.Nil(t, snap.Deployment("old"))
}

func ids(ds []*structs.Deployment) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Id)
	}
	return out
}

func TestDeploymentsSurviveWalkAndPersist(t *testing.T) {
	s := fullStore(t)
	tx := s.Begin()
	tx.UpsertDeployment(deployment("d1", 10))
	done := deployment("d2", 11)
	done.Status = structs.DeploymentStatusFailed
	tx.UpsertDeployment(done)
	tx.Commit(11)
	src := s.Snapshot()

	r := NewRestorer()
	n := 0
	require.NoError(t, src.Walk(func(field protowire.Number, m proto.Message) error {
		if field == FieldDeployments {
			n++
		}
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		fresh := NewMessage(field)
		require.NoError(t, proto.Unmarshal(b, fresh))
		return r.Add(field, fresh)
	}))
	require.Equal(t, 2, n)
	dst := NewStore()
	dst.Install(r, src.Index())
	require.True(t, proto.Equal(src.Persist(), dst.Snapshot().Persist()))
	require.Equal(t, []string{"d1"}, ids(dst.Snapshot().ActiveDeployments()), "the active index is rebuilt")

	other := NewStore()
	other.Restore(src.Persist())
	require.Len(t, other.Snapshot().Deployments("", ""), 2)
	require.Equal(t, "d2", other.Snapshot().LatestDeployment("default", "web").Id)
}

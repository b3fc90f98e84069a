package gc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

func TestFinishedDeploymentsAreReapedAfterTheirThreshold(t *testing.T) {
	c := cfg
	c.DeploymentGCThreshold = time.Hour
	dep := func(id, status string, modified time.Duration) *structs.Deployment {
		return &structs.Deployment{Id: id, Namespace: "default", JobId: "svc", Status: status, ModifyTime: at(modified)}
	}
	w := newWorld().with(func(tx *state.Txn) {
		tx.UpsertJob(&structs.Job{Id: "svc", Namespace: "default", Type: "service", Status: "running"})
		tx.UpsertDeployment(dep("done", structs.DeploymentStatusSuccessful, 0))
		tx.UpsertDeployment(dep("failed", structs.DeploymentStatusFailed, 0))
		tx.UpsertDeployment(dep("young", structs.DeploymentStatusCancelled, 30*time.Minute))
		tx.UpsertDeployment(dep("running", structs.DeploymentStatusRunning, 0))
		tx.UpsertDeployment(dep("referenced", structs.DeploymentStatusSuccessful, 0))
		a := alloc("a", "svc", "e", "n", "run", "running", 0)
		a.DeploymentId = "referenced"
		tx.UpsertAlloc(a)
	})
	kinds := Kinds{Deployments: true}
	require.Empty(t, Collect(w.st.Snapshot(), c, t0.Add(59*time.Minute), kinds).Deployments)
	r := Collect(w.st.Snapshot(), c, t0.Add(time.Hour), kinds)
	require.Equal(t, []string{"done", "failed"}, r.Deployments,
		"finished for the threshold and referred to by no allocation; never a running one")
	require.Equal(t, []string{"done", "failed", "young"}, Collect(w.st.Snapshot(), c.Force(), t0.Add(30*time.Minute), kinds).Deployments)
	require.Empty(t, Collect(w.st.Snapshot(), c, t0.Add(time.Hour), Kinds{Jobs: true}).Deployments, "only when asked for")

	bs := Batches(r, 1)
	require.Len(t, bs, 2)
	require.Equal(t, []string{"done"}, bs[0].Deployments)
}

func TestDeploymentOfACollectedJobGoesWithItsAllocations(t *testing.T) {
	c := cfg
	c.DeploymentGCThreshold = time.Hour
	w := newWorld().with(func(tx *state.Txn) {
		tx.UpsertJob(&structs.Job{Id: "old", Namespace: "default", Type: "service", Status: "dead", StatusUpdatedAt: at(0)})
		tx.UpsertDeployment(&structs.Deployment{Id: "d", Namespace: "default", JobId: "old",
			Status: structs.DeploymentStatusSuccessful, ModifyTime: at(0)})
		a := alloc("a", "old", "e", "n", "stop", "complete", 0)
		a.DeploymentId = "d"
		tx.UpsertAlloc(a)
	})
	r := Collect(w.st.Snapshot(), c, t0.Add(5*time.Hour), All)
	require.Equal(t, []string{"a"}, r.Allocs)
	require.Equal(t, []string{"d"}, r.Deployments, "its allocation goes in the same collection")
}

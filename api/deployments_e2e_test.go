package api_test

import (
	"net/http"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
)

// deployJob is mockJob rolled out one allocation at a time, with canaries
// when canary > 0, healthy after 100 ms of running tasks.
func deployJob(runFor string, canary int) *nomad.Job {
	j := mockJob("web", 2)
	j.TaskGroups[0].Tasks[0].SetConfig("run_for", runFor)
	j.Update = &nomad.UpdateStrategy{
		MaxParallel: ptr(1), Canary: ptr(canary), HealthCheck: ptr("task_states"), AutoRevert: ptr(true),
		MinHealthyTime: ptr(100 * time.Millisecond), HealthyDeadline: ptr(20 * time.Second), ProgressDeadline: ptr(time.Minute),
	}
	j.Canonicalize()
	return j
}

// waitDeployment long-polls the job's latest deployment until cond holds.
func waitDeployment(t *testing.T, c *cluster, what string, cond func(d *nomad.Deployment) bool) *nomad.Deployment {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var index uint64
	for time.Now().Before(deadline) {
		d, meta, err := c.nomad.Jobs().LatestDeployment("web", &nomad.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second})
		require.NoError(t, err)
		if d != nil && cond(d) {
			return d
		}
		index = meta.LastIndex
	}
	t.Fatalf("timed out waiting for %s", what)
	return nil
}

func healthyCanaries(d *nomad.Deployment, c *cluster, t *testing.T) bool {
	g := d.TaskGroups["api"]
	if g == nil || len(g.PlacedCanaries) < g.DesiredCanaries {
		return false
	}
	for _, id := range g.PlacedCanaries {
		a, _, err := c.nomad.Allocations().Info(id, nil)
		require.NoError(t, err)
		if a.DeploymentStatus == nil || a.DeploymentStatus.Healthy == nil || !*a.DeploymentStatus.Healthy {
			return false
		}
	}
	return true
}

// TestDeploymentsThroughTheNomadClient drives deployments with Nomad's Go
// client: the first version's deployment, a canary promoted with
// PromoteAll, one paused, resumed, promoted by group and failed (which
// reverts the job), the job's versions, revert and stable calls.
func TestDeploymentsThroughTheNomadClient(t *testing.T) {
	c := newCluster(t, api.Options{})
	none, _, err := c.nomad.Jobs().LatestDeployment("web", nil)
	require.NoError(t, err)
	require.Nil(t, none, "no job: null, as `nomad job status` expects")

	resp, _, err := c.nomad.Jobs().Register(deployJob("1h", 1), nil)
	require.NoError(t, err)
	require.Empty(t, resp.Warnings)
	first := waitDeployment(t, c, "the first deployment to succeed", func(d *nomad.Deployment) bool { return d.Status == "successful" })
	require.Equal(t, 2, first.TaskGroups["api"].DesiredTotal)
	require.Equal(t, 2, first.TaskGroups["api"].HealthyAllocs)
	require.Zero(t, first.TaskGroups["api"].DesiredCanaries, "the first version has nothing to compare canaries with")
	info, _, err := c.nomad.Deployments().Info(first.ID, nil)
	require.NoError(t, err)
	require.Equal(t, first.ID, info.ID)
	allocs, _, err := c.nomad.Deployments().Allocations(first.ID, nil)
	require.NoError(t, err)
	require.Len(t, allocs, 2)
	require.True(t, *allocs[0].DeploymentStatus.Healthy)
	versions, _, _, err := c.nomad.Jobs().Versions("web", false, nil)
	require.NoError(t, err)
	require.True(t, *versions[0].Stable)

	// A canary waits beside the old allocations until PromoteAll.
	_, _, err = c.nomad.Jobs().Register(deployJob("2h", 1), nil)
	require.NoError(t, err)
	second := waitDeployment(t, c, "a healthy canary", func(d *nomad.Deployment) bool {
		return d.JobVersion == 1 && healthyCanaries(d, c, t)
	})
	require.Equal(t, "running", second.Status)
	require.Equal(t, "Deployment is running but requires manual promotion", second.StatusDescription)
	waitAllocs(t, c, "web", running(3))
	up, _, err := c.nomad.Deployments().PromoteAll(second.ID, nil)
	require.NoError(t, err)
	require.NotEmpty(t, up.EvalID)
	second = waitDeployment(t, c, "the second deployment to succeed", func(d *nomad.Deployment) bool {
		return d.ID == second.ID && d.Status == "successful"
	})
	require.True(t, second.TaskGroups["api"].Promoted)
	waitAllocs(t, c, "web", running(2))

	// Paused, resumed, promoted by group, then failed: the job goes back
	// to its latest stable version, as a new version.
	_, _, err = c.nomad.Jobs().Register(deployJob("3h", 1), nil)
	require.NoError(t, err)
	third := waitDeployment(t, c, "a third deployment", func(d *nomad.Deployment) bool { return d.JobVersion == 2 })
	_, _, err = c.nomad.Deployments().Pause(third.ID, true, nil)
	require.NoError(t, err)
	got, _, err := c.nomad.Deployments().Info(third.ID, nil)
	require.NoError(t, err)
	require.Equal(t, "paused", got.Status)
	_, _, err = c.nomad.Deployments().Pause(third.ID, false, nil)
	require.NoError(t, err)
	third = waitDeployment(t, c, "its healthy canary", func(d *nomad.Deployment) bool {
		return d.ID == third.ID && d.Status == "running" && healthyCanaries(d, c, t)
	})
	_, _, err = c.nomad.Deployments().PromoteGroups(third.ID, []string{"api"}, nil)
	require.NoError(t, err)
	failed, _, err := c.nomad.Deployments().Fail(third.ID, nil)
	require.NoError(t, err)
	require.NotNil(t, failed.RevertedJobVersion)
	got, _, err = c.nomad.Deployments().Info(third.ID, nil)
	require.NoError(t, err)
	require.Equal(t, "failed", got.Status)
	require.Equal(t, "Deployment marked as failed - rolling back to job version 1", got.StatusDescription)
	job, _, err := c.nomad.Jobs().Info("web", nil)
	require.NoError(t, err)
	require.Equal(t, uint64(3), *job.Version)
	require.Equal(t, "2h", job.TaskGroups[0].Tasks[0].Config["run_for"], "version 1's specification")
	require.Equal(t, 1, *job.TaskGroups[0].Update.Canary, "the update block reads back")

	_, _, err = c.nomad.Deployments().Fail(third.ID, nil)
	requireStatus(t, err, http.StatusBadRequest)
	_, _, err = c.nomad.Deployments().Info("no-such-deployment", nil)
	requireStatus(t, err, http.StatusNotFound)
	list, _, err := c.nomad.Jobs().Deployments("web", false, nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(list), 4)
	all, _, err := c.nomad.Deployments().List(nil)
	require.NoError(t, err)
	require.Len(t, all, len(list))

	// Stability and revert.
	st, _, err := c.nomad.Jobs().Stable("web", 0, false, nil)
	require.NoError(t, err)
	require.NotZero(t, st.JobModifyIndex)
	versions, _, _, err = c.nomad.Jobs().Versions("web", false, nil)
	require.NoError(t, err)
	require.False(t, *versions[len(versions)-1].Stable, "version 0 no longer stable")
	wrong := uint64(7)
	_, _, err = c.nomad.Jobs().Revert("web", 0, &wrong, nil, "", "")
	requireStatus(t, err, http.StatusBadRequest)
	rev, _, err := c.nomad.Jobs().Revert("web", 0, nil, nil, "", "")
	require.NoError(t, err)
	require.NotEmpty(t, rev.EvalID)
	job, _, err = c.nomad.Jobs().Info("web", nil)
	require.NoError(t, err)
	require.Equal(t, uint64(4), *job.Version)
	require.Equal(t, "1h", job.TaskGroups[0].Tasks[0].Config["run_for"])
}

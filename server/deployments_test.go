package server

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// rollingJob is a service job of count mock tasks rolled out max_parallel
// at a time.
func rollingJob(env string, count, maxParallel int32, autoRevert bool) *structs.Job {
	j := mockJob("web", count)
	j.TaskGroups[0].Tasks[0].Env = map[string]string{"V": env}
	j.Update = &structs.UpdateStrategy{MaxParallel: proto.Int32(maxParallel), AutoRevert: proto.Bool(autoRevert)}
	return j
}

// simClients acts as the clients of the job's nodes: allocations the
// servers stopped are reported complete, the others running, and those
// of a deployment healthy (or not) when report says so.
func simClients(t *testing.T, s *Server, report func(a *structs.Allocation) *bool) {
	t.Helper()
	ctx := context.Background()
	allocs, err := s.Allocations(ctx, "default", "web", "")
	require.NoError(t, err)
	byNode := map[string][]*structs.Allocation{}
	for _, a := range allocs {
		if a.ClientTerminal() {
			continue
		}
		upd := &structs.Allocation{Id: a.Id, ClientStatus: structs.AllocClientRunning, DeploymentId: a.DeploymentId}
		if a.DesiredStatus != structs.AllocDesiredRun {
			upd.ClientStatus = structs.AllocClientComplete
		} else if h := report(a); h != nil && a.DeploymentId != "" && !a.DeploymentStatus.HasHealth() {
			upd.DeploymentStatus = &structs.AllocDeploymentStatus{Healthy: h}
		} else if a.ClientStatus == structs.AllocClientRunning {
			continue
		}
		byNode[a.NodeId] = append(byNode[a.NodeId], upd)
	}
	for node, list := range byNode {
		_, err := s.UpdateAllocations(ctx, node, node+"-secret", list)
		require.NoError(t, err)
	}
}

func healthy(*structs.Allocation) *bool { return proto.Bool(true) }

// rollOut acts as healthy clients until the deployment of the job's
// version is no longer running, and returns it; inFlight checks every
// state on the way.
func rollOut(t *testing.T, s *Server, version uint64, inFlight func()) *structs.Deployment {
	t.Helper()
	ctx := context.Background()
	var d *structs.Deployment
	waitState(t, s, "the deployment to finish", func() bool {
		if inFlight != nil {
			inFlight()
		}
		simClients(t, s, healthy)
		var err error
		d, err = s.LatestDeployment(ctx, "default", "web")
		require.NoError(t, err)
		return d != nil && d.JobVersion == version && !d.Active()
	})
	return d
}

func registerNodes(t *testing.T, s *Server, ids ...string) {
	t.Helper()
	for _, id := range ids {
		_, err := s.RegisterNode(context.Background(), mockNode(id))
		require.NoError(t, err)
	}
}

func TestRollingUpdateThroughTheServer(t *testing.T) {
	s, _ := aclServer(t, false)
	ctx := context.Background()
	registerNodes(t, s, "n1", "n2")
	d, err := s.LatestDeployment(ctx, "default", "web")
	require.NoError(t, err)
	require.Nil(t, d, "no job, no deployment, no error")

	_, err = s.RegisterJob(ctx, rollingJob("1", 4, 1, false))
	require.NoError(t, err)
	first := rollOut(t, s, 0, nil)
	require.Equal(t, structs.DeploymentStatusSuccessful, first.Status)
	require.Equal(t, int32(4), first.TaskGroups["api"].GetHealthyAllocs()+first.TaskGroups["g"].GetHealthyAllocs())

	_, err = s.RegisterJob(ctx, rollingJob("2", 4, 1, false))
	require.NoError(t, err)
	second := rollOut(t, s, 1, func() {
		allocs, err := s.Allocations(ctx, "default", "web", "")
		require.NoError(t, err)
		pending := 0
		for _, a := range allocs {
			if a.Job.Version == 1 && a.DesiredStatus == structs.AllocDesiredRun && !a.DeploymentStatus.HasHealth() {
				pending++
			}
		}
		require.LessOrEqual(t, pending, 1, "max_parallel 1: one new allocation not yet healthy at a time")
	})
	require.Equal(t, structs.DeploymentStatusSuccessful, second.Status)
	require.NotEqual(t, first.Id, second.Id)
	versions, err := s.JobVersions(ctx, "default", "web")
	require.NoError(t, err)
	require.True(t, versions[0].Stable)
	require.True(t, versions[1].Stable)

	all, err := s.JobDeployments(ctx, "default", "web", false)
	require.NoError(t, err)
	require.Equal(t, []string{second.Id, first.Id}, []string{all[0].Id, all[1].Id}, "newest first")
	listed, err := s.Deployments(ctx, "", "")
	require.NoError(t, err)
	require.Len(t, listed, 2)
	allocs, err := s.DeploymentAllocations(ctx, second.Id)
	require.NoError(t, err)
	require.Len(t, allocs, 4)
}

func TestFailDeploymentRevertsToTheStableVersion(t *testing.T) {
	s, _ := aclServer(t, false)
	ctx := context.Background()
	registerNodes(t, s, "n1")
	_, err := s.RegisterJob(ctx, rollingJob("good", 2, 1, true))
	require.NoError(t, err)
	require.Equal(t, structs.DeploymentStatusSuccessful, rollOut(t, s, 0, nil).Status)

	_, err = s.RegisterJob(ctx, rollingJob("bad", 2, 1, true))
	require.NoError(t, err)
	var d *structs.Deployment
	waitState(t, s, "the second deployment", func() bool {
		d, _ = s.LatestDeployment(ctx, "default", "web")
		return d != nil && d.JobVersion == 1
	})
	resp, err := s.FailDeployment(ctx, d.Id)
	require.NoError(t, err)
	require.NotNil(t, resp.RevertedJobVersion)
	require.Equal(t, uint64(2), *resp.RevertedJobVersion)
	got, err := s.Deployment(ctx, d.Id)
	require.NoError(t, err)
	require.Equal(t, structs.DeploymentStatusFailed, got.Status)
	require.Equal(t, structs.DeploymentDescFailedByUser+" - rolling back to job version 0", got.StatusDescription)
	job, err := s.Job(ctx, "default", "web")
	require.NoError(t, err)
	require.Equal(t, uint64(2), job.Version)
	require.Equal(t, "good", job.TaskGroups[0].Tasks[0].Env["V"])

	_, err = s.FailDeployment(ctx, d.Id)
	require.ErrorIs(t, err, ErrBadRequest, "a failed deployment stays failed")
	final := rollOut(t, s, 2, nil)
	require.Equal(t, structs.DeploymentStatusSuccessful, final.Status, "the reverted version rolls out in a deployment of its own")
}

func TestPausePromoteAndHealthCalls(t *testing.T) {
	s, _ := aclServer(t, false)
	ctx := context.Background()
	registerNodes(t, s, "n1", "n2")
	j := rollingJob("1", 2, 1, false)
	j.Update.Canary = proto.Int32(1)
	_, err := s.RegisterJob(ctx, j)
	require.NoError(t, err)
	rollOut(t, s, 0, nil)

	j = rollingJob("2", 2, 1, false)
	j.Update.Canary = proto.Int32(1)
	_, err = s.RegisterJob(ctx, j)
	require.NoError(t, err)
	var d *structs.Deployment
	waitState(t, s, "a canary", func() bool {
		d, _ = s.LatestDeployment(ctx, "default", "web")
		return d != nil && d.JobVersion == 1 && len(d.TaskGroups["g"].GetPlacedCanaries()) == 1
	})
	require.Equal(t, structs.DeploymentDescRunningNeedsPromotion, d.StatusDescription)
	_, err = s.PromoteDeployment(ctx, d.Id, true, nil)
	require.ErrorIs(t, err, ErrBadRequest, "its canary is not healthy yet")
	require.ErrorContains(t, err, `task group "g" has 0/1 healthy canaries`)
	_, err = s.PromoteDeployment(ctx, d.Id, false, []string{"nope"})
	require.ErrorContains(t, err, `no task group "nope"`)

	canary := d.TaskGroups["g"].PlacedCanaries[0]
	_, err = s.SetAllocHealth(ctx, d.Id, []string{canary}, nil)
	require.NoError(t, err)
	_, err = s.PauseDeployment(ctx, d.Id, true)
	require.NoError(t, err)
	d, _ = s.Deployment(ctx, d.Id)
	require.Equal(t, structs.DeploymentStatusPaused, d.Status)
	resp, err := s.PauseDeployment(ctx, d.Id, false)
	require.NoError(t, err)
	require.NotEmpty(t, resp.EvalId)
	d, _ = s.Deployment(ctx, d.Id)
	require.Equal(t, structs.DeploymentStatusRunning, d.Status)
	require.Equal(t, structs.DeploymentDescRunningNeedsPromotion, d.StatusDescription)

	resp, err = s.PromoteDeployment(ctx, d.Id, true, nil)
	require.NoError(t, err)
	require.NotEmpty(t, resp.EvalId)
	final := rollOut(t, s, 1, nil)
	require.Equal(t, structs.DeploymentStatusSuccessful, final.Status)
	require.True(t, final.TaskGroups["g"].Promoted)

	_, err = s.PauseDeployment(ctx, final.Id, true)
	require.ErrorIs(t, err, ErrBadRequest)
	_, err = s.Deployment(ctx, "missing")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestRevertAndStability(t *testing.T) {
	s, _ := aclServer(t, false)
	ctx := context.Background()
	registerNodes(t, s, "n1")
	for _, v := range []string{"a", "b"} {
		_, err := s.RegisterJob(ctx, rollingJob(v, 1, 0, false))
		require.NoError(t, err)
	}
	_, err := s.SetJobStability(ctx, "default", "web", 0, true)
	require.NoError(t, err)
	_, err = s.SetJobStability(ctx, "default", "web", 7, true)
	require.ErrorIs(t, err, ErrNotFound)

	prior := uint64(0)
	_, err = s.RevertJob(ctx, "default", "web", 0, &prior)
	require.ErrorIs(t, err, ErrBadRequest, "the job is at version 1, not 0")
	_, err = s.RevertJob(ctx, "default", "web", 1, nil)
	require.ErrorIs(t, err, ErrBadRequest, "reverting to the current version")
	prior = 1
	resp, err := s.RevertJob(ctx, "default", "web", 0, &prior)
	require.NoError(t, err)
	require.NotEmpty(t, resp.EvalId)
	job, err := s.Job(ctx, "default", "web")
	require.NoError(t, err)
	require.Equal(t, uint64(2), job.Version)
	require.Equal(t, "a", job.TaskGroups[0].Tasks[0].Env["V"])
	versions, err := s.JobVersions(ctx, "default", "web")
	require.NoError(t, err)
	require.True(t, versions[2].Stable, "version 0 stays stable")
	require.False(t, versions[0].Stable)
}

func TestDeploymentCallsNeedTheirCapabilities(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	host := context.Background()
	registerNodes(t, s, "n1")
	_, err := s.RegisterJob(host, rollingJob("1", 1, 1, false))
	require.NoError(t, err)
	var d *structs.Deployment
	waitState(t, s, "a deployment", func() bool {
		d, _ = s.LatestDeployment(host, "default", "web")
		return d != nil
	})
	reader := WithToken(host, clientToken(t, s, mgmt, "reader", `namespace "default" { policy = "read" }`, 0).SecretId)
	failer := WithToken(host, clientToken(t, s, mgmt, "failer", `namespace "default" { capabilities = ["fail-deployment"] }`, 0).SecretId)
	anon := WithToken(host, "")

	_, err = s.Deployment(reader, d.Id)
	require.NoError(t, err)
	_, err = s.Deployment(anon, d.Id)
	require.ErrorIs(t, err, ErrPermissionDenied)
	_, err = s.LatestDeployment(anon, "default", "web")
	require.ErrorIs(t, err, ErrPermissionDenied)
	_, err = s.PauseDeployment(reader, d.Id, true)
	require.ErrorIs(t, err, ErrPermissionDenied)
	_, err = s.PauseDeployment(failer, d.Id, true)
	require.ErrorIs(t, err, ErrPermissionDenied, "fail-deployment does not pause")
	_, err = s.RevertJob(failer, "default", "web", 0, nil)
	require.ErrorIs(t, err, ErrPermissionDenied)
	_, err = s.SetJobStability(reader, "default", "web", 0, true)
	require.ErrorIs(t, err, ErrPermissionDenied)
	_, err = s.FailDeployment(failer, d.Id)
	require.NoError(t, err)
	listed, err := s.Deployments(reader, "", "")
	require.NoError(t, err)
	require.Len(t, listed, 1)
}

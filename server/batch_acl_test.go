package server

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/structs"
)

// TestBatchCallsNeedTheirCapabilities: dispatch needs dispatch-job,
// forcing a launch force-periodic-job, scaling scale-job and the scale
// status read-job-scaling; each is refused without and accepted with.
func TestBatchCallsNeedTheirCapabilities(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	admin := WithToken(context.Background(), mgmt)
	_, err := s.RegisterJob(admin, paramJob("work", "", nil, nil))
	require.NoError(t, err)
	_, err = s.RegisterJob(admin, periodicJob("cron", "0 3 * * *", false))
	require.NoError(t, err)
	_, err = s.RegisterJob(admin, mockJob("pool", 1))
	require.NoError(t, err)

	none := WithToken(context.Background(), clientToken(t, s, mgmt, "reader", `namespace "default" { capabilities = ["list-jobs"] }`, 0).SecretId)
	with := WithToken(context.Background(), clientToken(t, s, mgmt, "batch",
		`namespace "default" { capabilities = ["dispatch-job", "force-periodic-job", "scale-job", "read-job-scaling"] }`, 0).SecretId)

	calls := map[string]func(ctx context.Context) error{
		"DispatchJob": func(ctx context.Context) error {
			_, err := s.DispatchJob(ctx, DispatchRequest{JobID: "work"})
			return err
		},
		"ForcePeriodic": func(ctx context.Context) error { _, err := s.ForcePeriodic(ctx, "", "cron"); return err },
		"ScaleJob": func(ctx context.Context) error {
			_, err := s.ScaleJob(ctx, ScaleRequest{JobID: "pool", Group: "g", Count: proto.Int64(2)})
			return err
		},
		"ScaleStatus": func(ctx context.Context) error { _, err := s.ScaleStatus(ctx, "", "pool"); return err },
	}
	for name, call := range calls {
		before := s.StateIndex()
		require.ErrorIs(t, call(none), ErrPermissionDenied, name)
		require.ErrorIs(t, call(WithToken(context.Background(), "")), ErrPermissionDenied, name+" anonymous")
		require.Equal(t, before, s.StateIndex(), "%s refused changes nothing", name)
		require.NoError(t, call(with), name)
	}
}

func TestScaleBeyondBoundsIsRefusedAndScalesAreRecorded(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	registerNodes(t, s, "n1")
	j := mockJob("pool", 1)
	j.TaskGroups[0].Scaling = &structs.ScalingPolicy{Min: 1, Max: 3}
	_, err := s.RegisterJob(ctx, j)
	require.NoError(t, err)
	before := s.StateIndex()
	_, err = s.ScaleJob(ctx, ScaleRequest{JobID: "pool", Group: "g", Count: proto.Int64(4)})
	require.ErrorContains(t, err, "greater than the scaling policy's max 3")
	require.Equal(t, before, s.StateIndex())

	for i, n := range []int64{3, 2} {
		resp, err := s.ScaleJob(ctx, ScaleRequest{JobID: "pool", Group: "g", Count: proto.Int64(n), Message: "step"})
		require.NoError(t, err)
		require.NotEmpty(t, resp.EvalId)
		waitState(t, s, "the scale placed", func() bool {
			live := 0
			for _, a := range mustAllocs(t, s, "pool") {
				if a.DesiredStatus == "run" {
					live++
				}
			}
			return live == int(n)
		})
		job, err := s.Job(ctx, "", "pool")
		require.NoError(t, err)
		require.EqualValues(t, i+1, job.Version)
	}
	st, err := s.ScaleStatus(ctx, "", "pool")
	require.NoError(t, err)
	g := st.Groups["g"]
	require.Equal(t, 2, g.Desired)
	require.Len(t, g.Events, 2)
	require.EqualValues(t, 1, g.Events[0].PreviousCount)
	require.EqualValues(t, 3, g.Events[1].PreviousCount)

	// The history is bounded.
	for range 25 {
		_, err := s.ScaleJob(ctx, ScaleRequest{JobID: "pool", Group: "g", Message: "tick"})
		require.NoError(t, err)
	}
	st, err = s.ScaleStatus(ctx, "", "pool")
	require.NoError(t, err)
	require.Len(t, st.Groups["g"].Events, 20)
}

// TestScaleRollsThroughADeployment: with an update block, a scale is a
// version whose new allocations go through a deployment like any change.
func TestScaleRollsThroughADeployment(t *testing.T) {
	s, _ := aclServer(t, false)
	ctx := context.Background()
	registerNodes(t, s, "n1", "n2")
	j := rollingJob("1", 2, 1, false)
	j.TaskGroups[0].Scaling = &structs.ScalingPolicy{Min: 1, Max: 5}
	_, err := s.RegisterJob(ctx, j)
	require.NoError(t, err)
	first := rollOut(t, s, 0, nil)
	require.Equal(t, structs.DeploymentStatusSuccessful, first.Status)

	_, err = s.ScaleJob(ctx, ScaleRequest{JobID: "web", Group: "g", Count: proto.Int64(4), Message: "more"})
	require.NoError(t, err)
	second := rollOut(t, s, 1, nil)
	require.Equal(t, structs.DeploymentStatusSuccessful, second.Status)
	require.NotEqual(t, first.Id, second.Id)
	require.EqualValues(t, 4, second.TaskGroups["g"].GetDesiredTotal())
	live := 0
	for _, a := range mustAllocs(t, s, "web") {
		if a.DesiredStatus == structs.AllocDesiredRun && !a.ClientTerminal() {
			live++
		}
	}
	require.Equal(t, 4, live)
	st, err := s.ScaleStatus(ctx, "", "web")
	require.NoError(t, err)
	require.Equal(t, 4, st.Groups["g"].Healthy, "the scale status counts the healthy allocations of the version")
}

package client

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

func policy(attempts int32, interval, delay time.Duration, mode string) *structs.RestartPolicy {
	return &structs.RestartPolicy{Attempts: attempts, Interval: durationpb.New(interval), Delay: durationpb.New(delay), Mode: mode}
}

// tracker gives the tests a tracker without jitter.
func tracker(p *structs.RestartPolicy, jobType string) *restartTracker {
	t := newRestartTracker(p, jobType)
	t.jitter = func(time.Duration) time.Duration { return 0 }
	return t
}

func TestRestartJitterIsAtMostAQuarterOfTheDelay(t *testing.T) {
	require.Zero(t, restartJitter(0))
	for range 1000 {
		j := restartJitter(time.Second)
		require.GreaterOrEqual(t, j, time.Duration(0))
		require.LessOrEqual(t, j, time.Second/4)
	}
	d := newRestartTracker(policy(1, time.Minute, time.Second, "fail"), "service").next(time.Unix(0, 0), false)
	require.GreaterOrEqual(t, d.wait, time.Second)
	require.LessOrEqual(t, d.wait, time.Second+time.Second/4)
}

func TestRestartPolicyFailMode(t *testing.T) {
	rt := tracker(policy(2, time.Minute, time.Second, "fail"), "service")
	now := time.Unix(1000, 0)
	for i := 0; i < 2; i++ {
		d := rt.next(now, false)
		require.True(t, d.restart, "attempt %d is within the policy", i+1)
		require.Equal(t, time.Second, d.wait)
		now = now.Add(time.Second)
	}
	d := rt.next(now, false)
	require.False(t, d.restart, "a third failure within the interval gives up")

	// After the interval, the count starts again.
	rt = tracker(policy(1, time.Minute, 0, "fail"), "service")
	require.True(t, rt.next(now, false).restart)
	require.True(t, rt.next(now.Add(2*time.Minute), false).restart)
}

func TestRestartPolicyDelayModeWaitsOutInterval(t *testing.T) {
	rt := tracker(policy(1, time.Minute, time.Second, "delay"), "service")
	start := time.Unix(1000, 0)
	require.True(t, rt.next(start, false).restart)
	d := rt.next(start.Add(10*time.Second), false)
	require.True(t, d.restart, "delay mode never gives up")
	require.Equal(t, 50*time.Second, d.wait, "it waits for the rest of the interval")
}

func TestBatchSuccessIsFinalServiceSuccessRestarts(t *testing.T) {
	now := time.Unix(1000, 0)
	require.False(t, tracker(nil, "batch").next(now, true).restart)
	require.True(t, tracker(nil, "service").next(now, true).restart,
		"a service task that exits is restarted like a failure")
}

func TestClientStatusFromTasks(t *testing.T) {
	st := func(state string, failed bool) *structs.TaskState {
		return &structs.TaskState{State: state, Failed: failed}
	}
	for _, tc := range []struct {
		states map[string]*structs.TaskState
		want   string
	}{
		{map[string]*structs.TaskState{"a": st("pending", false)}, structs.AllocClientPending},
		{map[string]*structs.TaskState{"a": st("running", false), "b": st("pending", false)}, structs.AllocClientRunning},
		{map[string]*structs.TaskState{"a": st("dead", false), "b": st("running", false)}, structs.AllocClientRunning},
		{map[string]*structs.TaskState{"a": st("dead", false), "b": st("dead", false)}, structs.AllocClientComplete},
		{map[string]*structs.TaskState{"a": st("dead", true), "b": st("running", false)}, structs.AllocClientFailed},
	} {
		got, _ := clientStatus(tc.states)
		require.Equal(t, tc.want, got, "%v", tc.states)
	}
}

package client

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// A failed task stops the allocation's other tasks. A health watcher that
// has not yet seen the failure's state when it sees the stop must still
// report the allocation unhealthy, or its deployment never fails and is
// never reverted; a stop the servers asked for reports nothing.
func TestStopByAFailedTaskIsReportedUnhealthy(t *testing.T) {
	st, err := openState(t.TempDir())
	require.NoError(t, err)
	defer st.close()
	c := &Client{clock: clock.NewFake(time.Unix(1_700_000_000, 0)), logger: slog.New(slog.NewTextHandler(io.Discard, nil)), state: st}
	c.updates = newAllocUpdater(c, time.Second)

	// watchStopped runs a watcher that last saw the task running and then
	// sees the stop (or, with runEnded, the end of the allocation's run).
	watchStopped := func(byFailure, runEnded bool) *reportedHealth {
		r := newAllocRunner(c, &structs.Allocation{Id: "a", DeploymentId: "d"}, nil)
		r.states["web"] = &structs.TaskState{State: structs.TaskStateRunning}
		r.failedStop = byFailure
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if runEnded {
			cancel()
		} else {
			r.stop()
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.watchHealth(ctx, healthParams{deploymentID: "d", minHealthy: time.Hour, deadline: 2 * time.Hour}, 1)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the watcher did not return on the stop")
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.health
	}

	for _, runEnded := range []bool{false, true} {
		h := watchStopped(true, runEnded)
		require.NotNil(t, h, "a stop by a failed task decides the health (run ended: %v)", runEnded)
		require.False(t, h.status.GetHealthy())
		require.Equal(t, "d", h.deploymentID)

		require.Nil(t, watchStopped(false, runEnded), "a stop the servers asked for decides nothing (run ended: %v)", runEnded)
	}
}

package drover_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/structs"
)

// steppedClock is a clock the test moves by hand, shared by every server.
type steppedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *steppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *steppedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func periodicChildren(t *testing.T, srv *drover.Server, parent string) []string {
	t.Helper()
	children, err := srv.JobChildren(context.Background(), "", parent)
	require.NoError(t, err)
	ids := make([]string, 0, len(children))
	for _, c := range children {
		ids = append(ids, c.Id)
	}
	return ids
}

// TestPeriodicCronEverySecondAcrossALeaderChange runs a cron that fires
// every second on a stepped clock through three servers, stops the
// leader midway, and checks that every launch time ran exactly once.
func TestPeriodicCronEverySecondAcrossALeaderChange(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := &steppedClock{now: t0}
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) { o.Clock = clock.Now }})
	leader := c.WaitLeader(time.Minute)
	ctx := context.Background()
	job := &drover.Job{Id: "tick", Type: structs.JobTypeBatch,
		Periodic: &drover.PeriodicConfig{Specs: []string{"* * * * * * *"}},
		TaskGroups: []*drover.TaskGroup{{Name: "g", Count: 1, Tasks: []*drover.Task{{Name: "t", Driver: "mock",
			Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 16}}}}},
	}
	_, err := leader.Server().RegisterJob(ctx, job)
	require.NoError(t, err)

	var want []string
	launch := func(srv *drover.Server) {
		t.Helper()
		clock.Advance(time.Second)
		want = append(want, "tick/periodic-"+strconv.FormatInt(clock.Now().Unix(), 10))
		harness.WaitFor(t, srv, 30*time.Second, "launch "+want[len(want)-1], func() bool {
			return len(periodicChildren(t, srv, "tick")) >= len(want)
		})
		require.Equal(t, want, periodicChildren(t, srv, "tick"))
	}
	for range 3 {
		launch(leader.Server())
	}
	leader.Stop()
	next := c.WaitLeaderAmong(time.Minute, leader)
	for range 3 {
		launch(next.Server())
	}
	require.NoError(t, leader.Start())
	launch(next.Server())
	// Every server agrees, and each child was launched by one evaluation.
	for _, m := range c.Running() {
		harness.WaitFor(t, m.Server(), 30*time.Second, "the launches on "+m.Name, func() bool {
			return len(periodicChildren(t, m.Server(), "tick")) == len(want)
		})
	}
	for _, id := range want {
		evals, err := next.Server().Evaluations(ctx, "", id)
		require.NoError(t, err)
		n := 0
		for _, e := range evals {
			if e.TriggeredBy == structs.EvalTriggerPeriodicJob {
				n++
			}
		}
		require.Equal(t, 1, n, "%s launched once", id)
	}
}

package server

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/gc"
	"github.com/droverhq/drover/structs"
)

func periodicJob(id, spec string, prohibitOverlap bool) *structs.Job {
	j := mockJob(id, 1)
	j.Type = structs.JobTypeBatch
	j.Periodic = &structs.PeriodicConfig{Specs: []string{spec}, ProhibitOverlap: prohibitOverlap}
	return j
}

// launchedAt is the id of the child launched for time t.
func launchedAt(parent string, t time.Time) string {
	return parent + "/periodic-" + strconv.FormatInt(t.Unix(), 10)
}

func childIDs(t *testing.T, s *Server, parent string) []string {
	t.Helper()
	children, err := s.JobChildren(context.Background(), "", parent)
	require.NoError(t, err)
	var ids []string
	for _, c := range children {
		ids = append(ids, c.Id)
	}
	return ids
}

// step moves the clock and waits until the parent has want children.
func step(t *testing.T, s *Server, clock *clock.Fake, d time.Duration, parent string, want int) {
	t.Helper()
	clock.Advance(d)
	s.kickPeriodic()
	waitState(t, s, "the periodic launches", func() bool { return len(childIDs(t, s, parent)) >= want })
	require.Len(t, childIDs(t, s, parent), want)
}

func TestPeriodicLaunchesOncePerTimeAcrossRestartAndOnlyTheLatestAfterAnOutage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clock.NewFake(t0)
	cfg := gcConfig(t.TempDir(), clock)
	s := startGCServer(t, cfg)
	ctx := context.Background()
	resp, err := s.RegisterJob(ctx, periodicJob("tick", "* * * * * * *", false))
	require.NoError(t, err)
	require.Empty(t, resp.EvalId, "a periodic job places nothing: no evaluation, as in Nomad")
	require.Empty(t, mustAllocs(t, s, "tick"), "a periodic job never runs by itself")
	for i := 1; i <= 3; i++ {
		step(t, s, clock, time.Second, "tick", i)
	}

	// A new leader carries on from the recorded launch.
	require.NoError(t, s.Shutdown(ctx))
	s = startGCServer(t, cfg)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	step(t, s, clock, time.Second, "tick", 4)

	// Ten launch times pass while no leader looks (the server is down, so
	// no timer of a live dispatcher fires in between): only the latest runs.
	require.NoError(t, s.Shutdown(ctx))
	clock.Advance(10 * time.Second)
	s = startGCServer(t, cfg)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	step(t, s, clock, 0, "tick", 5)
	var want []string
	for _, sec := range []int{1, 2, 3, 4, 14} {
		want = append(want, launchedAt("tick", t0.Add(time.Duration(sec)*time.Second)))
	}
	require.Equal(t, want, childIDs(t, s, "tick"))
	for _, id := range want {
		evals, err := s.Evaluations(ctx, "", id)
		require.NoError(t, err)
		launches := 0
		for _, e := range evals {
			if e.TriggeredBy == structs.EvalTriggerPeriodicJob {
				launches++
			}
		}
		require.Equal(t, 1, launches, "child %s launched once", id)
	}

	// A launch proposed again for a time already launched changes nothing.
	parent, err := s.Job(ctx, "", "tick")
	require.NoError(t, err)
	_, err = s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_PeriodicLaunch{
		PeriodicLaunch: periodicLaunch(parent, t0.Add(14*time.Second), false, 6)}})
	require.NoError(t, err)
	require.Len(t, childIDs(t, s, "tick"), 5)

	// A stopped parent launches no more.
	_, err = s.DeregisterJob(ctx, "", "tick", false)
	require.NoError(t, err)
	clock.Advance(3 * time.Second)
	s.kickPeriodic()
	_, err = s.ForcePeriodic(ctx, "", "tick")
	require.ErrorIs(t, err, ErrBadRequest)
	require.Len(t, childIDs(t, s, "tick"), 5)
}

func TestPeriodicProhibitOverlapSkipsWhileAChildRuns(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clock.NewFake(t0)
	s := startGCServer(t, gcConfig(t.TempDir(), clock))
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	ctx := context.Background()
	_, err := s.RegisterJob(ctx, periodicJob("single", "* * * * * * *", true))
	require.NoError(t, err)
	// No node: the first child stays pending, so it still "runs".
	step(t, s, clock, time.Second, "single", 1)
	for range 3 {
		clock.Advance(time.Second)
		s.kickPeriodic()
		want := clock.Now().UnixNano()
		waitState(t, s, "the skipped launch recorded", func() bool {
			l := s.state.Snapshot().PeriodicLaunch("default", "single")
			return l != nil && l.Launch == want
		})
	}
	require.Len(t, childIDs(t, s, "single"), 1, "launches are skipped while the child runs")

	// Once the child is dead the next launch runs.
	_, err = s.DeregisterJob(ctx, "", launchedAt("single", t0.Add(time.Second)), false)
	require.NoError(t, err)
	waitState(t, s, "the child dead", func() bool {
		j := s.job("default", launchedAt("single", t0.Add(time.Second)))
		return j != nil && j.Status == structs.JobStatusDead
	})
	step(t, s, clock, time.Second, "single", 2)
	require.Equal(t, launchedAt("single", t0.Add(5*time.Second)), childIDs(t, s, "single")[1])

	// A forced launch ignores the schedule and overlap (in a second of
	// its own: a child's id is its launch time to the second).
	clock.Advance(1500 * time.Millisecond)
	resp, err := s.ForcePeriodic(ctx, "", "single")
	require.NoError(t, err)
	require.NotEmpty(t, resp.EvalId)
	require.Len(t, childIDs(t, s, "single"), 3)
}

func TestPeriodicTimeZoneLaunchesAtLocalTimeAcrossDaylightSaving(t *testing.T) {
	// 09:00 in New York: 14:00 UTC before 8 March 2026, 13:00 UTC after.
	clock := clock.NewFake(time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC))
	s := startGCServer(t, gcConfig(t.TempDir(), clock))
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	j := periodicJob("report", "0 9 * * *", false)
	j.Periodic.TimeZone = "America/New_York"
	_, err := s.RegisterJob(context.Background(), j)
	require.NoError(t, err)
	step(t, s, clock, time.Hour+59*time.Minute, "report", 0) // 13:59 UTC
	step(t, s, clock, time.Minute, "report", 1)              // 14:00 UTC = 09:00 EST
	step(t, s, clock, 22*time.Hour+59*time.Minute, "report", 1)
	step(t, s, clock, time.Minute, "report", 2) // 13:00 UTC = 09:00 EDT
	require.Equal(t, []string{
		launchedAt("report", time.Date(2026, 3, 7, 14, 0, 0, 0, time.UTC)),
		launchedAt("report", time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC)),
	}, childIDs(t, s, "report"))
}

func TestDeadChildrenAreCollectedAndTheParentKept(t *testing.T) {
	clock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := gcConfig(t.TempDir(), clock)
	s := startGCServer(t, cfg)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	ctx := context.Background()
	j := paramJob("work", "", nil, nil)
	j.TaskGroups[0].Count = 0 // nothing to place: no node needed
	_, err := s.RegisterJob(ctx, j)
	require.NoError(t, err)
	var ids []string
	for range 3 {
		resp, err := s.DispatchJob(ctx, DispatchRequest{JobID: "work"})
		require.NoError(t, err)
		ids = append(ids, resp.DispatchedJobId)
	}
	// No node: stopping a child makes it dead with nothing placed.
	for _, id := range ids[:2] {
		_, err := s.DeregisterJob(ctx, "", id, false)
		require.NoError(t, err)
	}
	waitState(t, s, "the children's evaluations done", func() bool {
		for _, id := range ids {
			evals, _ := s.Evaluations(ctx, "", id)
			for _, e := range evals {
				if !e.TerminalStatus() {
					return false
				}
			}
		}
		return true
	})
	clock.Advance(cfg.GC.JobGCThreshold + time.Minute)
	_, err = s.collect(ctx, cfg.GC, gc.Kinds{Jobs: true, Evals: true})
	require.NoError(t, err)
	require.Equal(t, []string{ids[2]}, childIDs(t, s, "work"), "the dead children are collected, the pending one kept")
	parent, err := s.Job(ctx, "", "work")
	require.NoError(t, err, "a running parent is never collected")
	require.Equal(t, structs.JobStatusRunning, parent.Status)
}

func TestDisabledPeriodicJobLaunchesNothingAndSeveralCronsAllLaunch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clock.NewFake(t0)
	s := startGCServer(t, gcConfig(t.TempDir(), clock))
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	ctx := context.Background()
	off := periodicJob("off", "* * * * * * *", false)
	off.Periodic.Disabled = true
	_, err := s.RegisterJob(ctx, off)
	require.NoError(t, err)
	two := periodicJob("two", "0 10 * * *", false)
	two.Periodic.Specs = append(two.Periodic.Specs, "30 * * * *")
	_, err = s.RegisterJob(ctx, two)
	require.NoError(t, err)
	step(t, s, clock, 30*time.Minute, "two", 1) // 00:30
	step(t, s, clock, time.Hour, "two", 2)      // 01:30
	require.Empty(t, childIDs(t, s, "off"), "a disabled schedule launches nothing")
	_, err = s.ForcePeriodic(ctx, "", "off")
	require.NoError(t, err, "a disabled job can still be forced")
	require.Len(t, childIDs(t, s, "off"), 1)
}

package drover_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
)

func running(allocs []*drover.Allocation) int {
	n := 0
	for _, a := range allocs {
		if a.ClientStatus == drover.AllocClientRunning && a.DesiredStatus == drover.AllocDesiredRun {
			n++
		}
	}
	return n
}

func TestWatchAllocationsFollowsAJobThroughAnUpdate(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	cli := harness.StartClient(t, drover.ClientOptions{DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()},
		Drivers: []drover.Driver{mock.New(nil)}})
	defer harness.Shutdown(t, cli, srv)
	ctx, cancel := context.WithTimeout(context.Background(), harness.Deadline)
	defer cancel()

	job := serviceJob(t, "web", 2)
	_, err := srv.RegisterJob(ctx, job)
	require.NoError(t, err)

	var seen [][]*drover.Allocation
	updated := false
	for allocs, err := range srv.WatchAllocations(ctx, "", "web") {
		require.NoError(t, err)
		if len(seen) > 0 {
			require.NotEqual(t, versions(seen[len(seen)-1]), versions(allocs), "a yield follows a change")
		}
		seen = append(seen, allocs)
		if running(allocs) == 2 && !updated {
			update := drover.CloneJob(job)
			update.TaskGroups[0].Count = 3
			_, err := srv.RegisterJob(ctx, update)
			require.NoError(t, err)
			updated = true
		}
		if running(allocs) == 3 {
			break
		}
	}
	require.NoError(t, ctx.Err(), "the watch saw three running allocations")
	require.Equal(t, 3, running(seen[len(seen)-1]))

	// Nothing changes: nothing is yielded, and the watch ends with its context.
	quiet, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	yields := 0
	for _, err := range srv.WatchAllocations(quiet, "", "web") {
		require.NoError(t, err)
		yields++
	}
	require.Equal(t, 1, yields, "only the first read is yielded while nothing changes")
}

// versions is what a read of allocations is compared by.
func versions(allocs []*drover.Allocation) map[string]uint64 {
	out := map[string]uint64{}
	for _, a := range allocs {
		out[a.Id] = a.ModifyIndex
	}
	return out
}

func TestWatchJobEndsWhenTheJobIsPurged(t *testing.T) {
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: t.TempDir(), NumSchedulers: drover.NoSchedulers})
	defer harness.Shutdown(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), harness.Deadline)
	defer cancel()
	_, err := srv.RegisterJob(ctx, serviceJob(t, "web", 1))
	require.NoError(t, err)

	step := 0
	for job, err := range srv.WatchJob(ctx, "", "web") {
		switch step {
		case 0:
			require.NoError(t, err)
			require.False(t, job.Stop)
			_, err = srv.DeregisterJob(ctx, "", "web", false)
			require.NoError(t, err)
		case 1:
			require.NoError(t, err)
			require.True(t, job.Stop, "a stop is a change of the job")
			_, err = srv.DeregisterJob(ctx, "", "web", true)
			require.NoError(t, err)
		case 2:
			require.Nil(t, job)
			require.ErrorIs(t, err, drover.ErrNotFound)
		}
		step++
	}
	require.Equal(t, 3, step, "the watch ends after the purge")
}

func TestWatchEndsWithErrShutdownWhenTheServerStops(t *testing.T) {
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: t.TempDir(), NumSchedulers: drover.NoSchedulers})
	ctx, cancel := context.WithTimeout(context.Background(), harness.Deadline)
	defer cancel()
	var last error
	for _, err := range srv.WatchAllocations(ctx, "", "none") {
		if err != nil {
			last = err
			continue
		}
		go func() { _ = srv.Shutdown(context.Background()) }()
	}
	<-srv.Done()
	require.ErrorIs(t, last, drover.ErrShutdown)
	require.NoError(t, ctx.Err())
}

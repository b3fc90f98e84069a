package drover_test

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
)

// TestTaskLogsThroughTheClient follows a task's output while it writes,
// then reads it whole once the task is done.
func TestTaskLogsThroughTheClient(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli, srv)
	ctx, cancel := context.WithTimeout(context.Background(), harness.Deadline)
	defer cancel()

	_, err := srv.RegisterJob(ctx, &drover.Job{
		Id: "counter", Type: drover.JobTypeBatch,
		TaskGroups: []*drover.TaskGroup{{
			Name: "g", Count: 1,
			Tasks: []*drover.Task{{
				Name: "count", Driver: "raw_exec",
				Config: drover.TaskConfig(map[string]any{
					"command": "/bin/sh",
					"args":    []string{"-c", "for i in 1 2 3; do echo $i; sleep 0.2; done; echo oops >&2"},
				}),
				Resources: &drover.Resources{CpuMhz: 20, MemoryMb: 16},
			}},
		}},
	})
	require.NoError(t, err)
	var alloc *drover.Allocation
	for allocs, err := range srv.WatchAllocations(ctx, "", "counter") {
		require.NoError(t, err)
		if len(allocs) == 1 && allocs[0].ClientStatus == drover.AllocClientRunning {
			alloc = allocs[0]
			break
		}
	}
	require.NotNil(t, alloc, "the task ran")

	r, err := cli.FollowTaskLogs(ctx, alloc.Id, "count", drover.StreamStdout)
	require.NoError(t, err)
	out, err := io.ReadAll(r) // ends once the task has ended
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, "1\n2\n3\n", string(out))

	harness.WaitFor(t, srv, 30*time.Second, "the allocation to complete", func() bool {
		a, err := srv.Allocation(ctx, alloc.Id)
		require.NoError(t, err)
		return a.ClientStatus == drover.AllocClientComplete
	})
	r, err = cli.TaskLogs(alloc.Id, "count", drover.StreamStderr)
	require.NoError(t, err)
	out, err = io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, "oops\n", string(out))

	_, err = cli.TaskLogs(alloc.Id, "nope", drover.StreamStdout)
	require.ErrorIs(t, err, drover.ErrNotFound)
}

package api_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
)

// TestRestartSignalStatsAndStopThroughTheNomadClient drives nomad alloc
// signal, restart, status (stats) and stop against a raw_exec task.
func TestRestartSignalStatsAndStopThroughTheNomadClient(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")
	alloc := runJob(t, s.nomad, shJob("life", `trap 'echo usr1 >> got-usr1' USR1; echo ready >> starts
while true; do sleep 0.05; done`))
	defer stopJobs(t, s.nomad)
	taskDir := node.taskDir(alloc.ID, "web")
	read := func(name string) string { b, _ := os.ReadFile(filepath.Join(taskDir, name)); return string(b) }
	waitFor(t, "the task to start", func() bool { return read("starts") == "ready\n" })

	require.NoError(t, s.nomad.Allocations().Signal(alloc, nil, "web", "SIGUSR1"))
	waitFor(t, "the signal", func() bool { return read("got-usr1") == "usr1\n" })
	require.Error(t, s.nomad.Allocations().Signal(alloc, nil, "web", "SIGNOPE"))

	stats, err := s.nomad.Allocations().Stats(alloc, nil)
	require.NoError(t, err)
	web := stats.Tasks["web"]
	require.NotNil(t, web)
	require.Positive(t, web.ResourceUsage.MemoryStats.RSS, "the task's processes are measured")
	require.Positive(t, stats.ResourceUsage.MemoryStats.RSS)
	require.GreaterOrEqual(t, web.ResourceUsage.CpuStats.Percent, 0.0)
	require.NotEmpty(t, web.Pids)

	host, err := s.nomad.Nodes().Stats(alloc.NodeID, nil)
	require.NoError(t, err)
	require.Positive(t, host.Memory.Total)
	require.NotEmpty(t, host.CPU)
	require.NotNil(t, host.AllocDirStats)
	require.Positive(t, host.AllocDirStats.Size)

	require.NoError(t, s.nomad.Allocations().Restart(alloc, "web", nil))
	waitFor(t, "the task to start again", func() bool { return read("starts") == "ready\nready\n" })
	waitFor(t, "the restart to be reported", func() bool {
		a, _, err := s.nomad.Allocations().Info(alloc.ID, nil)
		require.NoError(t, err)
		st := a.TaskStates["web"]
		if st == nil || st.Restarts != 1 || st.State != "running" {
			return false
		}
		for _, e := range st.Events {
			if e.Type == "Restart Signaled" {
				return true
			}
		}
		return false
	})
	require.NoError(t, s.nomad.Allocations().Restart(alloc, "", nil), "no task named: every running task")
	waitFor(t, "the tasks to start again", func() bool { return read("starts") == "ready\nready\nready\n" })

	resp, err := s.nomad.Allocations().Stop(alloc, nil)
	require.NoError(t, err)
	require.NotEmpty(t, resp.EvalID)
	waitFor(t, "a replacement to run and the allocation to stop", func() bool {
		allocs, _, err := s.nomad.Jobs().Allocations("life", true, nil)
		require.NoError(t, err)
		var stopped, replaced bool
		for _, a := range allocs {
			if a.ID == alloc.ID && a.DesiredStatus == "stop" && a.ClientStatus == "complete" {
				stopped = true
			}
			if a.ID != alloc.ID && a.ClientStatus == "running" {
				full, _, err := s.nomad.Allocations().Info(a.ID, nil)
				require.NoError(t, err)
				replaced = full.PreviousAllocation == alloc.ID
			}
		}
		return stopped && replaced
	})
	ev, _, err := s.nomad.Evaluations().Info(resp.EvalID, nil)
	require.NoError(t, err)
	require.Equal(t, "alloc-stop", ev.TriggeredBy)

	// A task that is not running cannot be restarted or signalled.
	err = s.nomad.Allocations().Restart(alloc, "web", nil)
	require.Error(t, err)
}

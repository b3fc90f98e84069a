package api_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
)

// shTask is a raw_exec task running script in sh.
func shTask(name, script string) *nomad.Task {
	t := nomad.NewTask(name, "raw_exec").SetConfig("command", "/bin/sh").SetConfig("args", []string{"-c", script}).
		Require(&nomad.Resources{CPU: ptr(20), MemoryMB: ptr(16)})
	t.KillTimeout = ptr(time.Second)
	return t
}

func lifecycle(t *nomad.Task, hook string, sidecar bool) *nomad.Task {
	t.Lifecycle = &nomad.TaskLifecycle{Hook: hook, Sidecar: sidecar}
	return t
}

func allocInfo(t *testing.T, c *nomad.Client, id string) *nomad.Allocation {
	a, _, err := c.Allocations().Info(id, nil)
	require.NoError(t, err)
	return a
}

// TestLifecycleTasksThroughTheNomadClient: a prestart task writes a file
// the main task reads; a prestart sidecar runs alongside; a poststart
// task starts after the main task; a poststop task runs once the job is
// stopped, after the others have ended.
func TestLifecycleTasksThroughTheNomadClient(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")

	job := nomad.NewServiceJob("life", "life", "global", 50)
	tg := nomad.NewTaskGroup("g", 1).
		AddTask(lifecycle(shTask("init", `sleep 0.3; echo prepared > "$NOMAD_ALLOC_DIR/data/ready"`), "prestart", false)).
		AddTask(lifecycle(shTask("side", `echo up > "$NOMAD_ALLOC_DIR/data/side"; exec sleep 300`), "prestart", true)).
		AddTask(shTask("web", `cat "$NOMAD_ALLOC_DIR/data/ready" > seen; test -e "$NOMAD_ALLOC_DIR/data/side" && echo side >> seen; exec sleep 300`)).
		AddTask(lifecycle(shTask("after", `test -e ../web/seen && echo after-main > "$NOMAD_ALLOC_DIR/data/after"`), "poststart", false)).
		AddTask(lifecycle(shTask("cleanup", `ls "$NOMAD_ALLOC_DIR/data" > "$NOMAD_ALLOC_DIR/data/cleanup"`), "poststop", false))
	tg.RestartPolicy = &nomad.RestartPolicy{Attempts: ptr(0), Mode: ptr("fail")}
	job.AddTaskGroup(tg)
	alloc := runJob(t, s.nomad, job)

	data := filepath.Join(node.dir, "alloc", alloc.ID, "alloc", "data")
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	waitFor(t, "the main task to read the prestart task's file", func() bool {
		return read(filepath.Join(node.taskDir(alloc.ID, "web"), "seen")) == "prepared\nside\n"
	})
	waitFor(t, "the poststart task", func() bool { return read(filepath.Join(data, "after")) == "after-main\n" })
	waitFor(t, "the prestart and poststart tasks to complete while the others run", func() bool {
		a := allocInfo(t, s.nomad, alloc.ID)
		return a.TaskStates["init"].State == "dead" && !a.TaskStates["init"].Failed &&
			a.TaskStates["after"].State == "dead" && !a.TaskStates["after"].Failed &&
			a.TaskStates["side"].State == "running" && a.TaskStates["web"].State == "running" &&
			a.TaskStates["cleanup"].State == "pending" && a.ClientStatus == "running"
	})
	_, _, err := s.nomad.Jobs().Deregister("life", false, nil)
	require.NoError(t, err)
	waitFor(t, "the poststop task to run after the others stopped", func() bool {
		a := allocInfo(t, s.nomad, alloc.ID)
		return a.TaskStates["cleanup"].State == "dead" && a.ClientStatus == "complete"
	})
	require.Equal(t, "after\ncleanup\nready\nside\n", read(filepath.Join(data, "cleanup")))
	a := allocInfo(t, s.nomad, alloc.ID)
	for _, name := range []string{"init", "side", "web", "after", "cleanup"} {
		require.False(t, a.TaskStates[name].Failed, name)
		require.Equal(t, "dead", a.TaskStates[name].State, name)
	}
}

// TestFailedPrestartFailsTheAllocation: the main task never starts.
func TestFailedPrestartFailsTheAllocation(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")

	job := nomad.NewBatchJob("pre", "pre", "global", 50)
	tg := nomad.NewTaskGroup("g", 1).
		AddTask(lifecycle(shTask("init", `exit 3`), "prestart", false)).
		AddTask(shTask("web", `echo ran > ran`))
	tg.RestartPolicy = &nomad.RestartPolicy{Attempts: ptr(0), Mode: ptr("fail")}
	tg.ReschedulePolicy = &nomad.ReschedulePolicy{Attempts: ptr(0), Unlimited: ptr(false)}
	job.AddTaskGroup(tg)
	_, _, err := s.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	var alloc *nomad.AllocationListStub
	waitFor(t, "the allocation to fail", func() bool {
		as, _, err := s.nomad.Jobs().Allocations("pre", true, nil)
		require.NoError(t, err)
		for _, a := range as {
			if a.ClientStatus == "failed" && a.TaskStates["web"] != nil && a.TaskStates["web"].State == "dead" {
				alloc = a
				return true
			}
		}
		return false
	})
	require.True(t, alloc.TaskStates["init"].Failed)
	require.Zero(t, countType(alloc.TaskStates["web"].Events, "Started"), "the main task never started: %+v", alloc.TaskStates["web"].Events)
	_, err = os.Stat(filepath.Join(node.taskDir(alloc.ID, "web"), "ran"))
	require.True(t, os.IsNotExist(err), "the main task never ran")
}

func countType(evs []*nomad.TaskEvent, typ string) int64 {
	var n int64
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestLeaderTaskEndsItsGroup: when the leader exits, the others stop.
func TestLeaderTaskEndsItsGroup(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")

	job := nomad.NewBatchJob("lead", "lead", "global", 50)
	leader := shTask("leader", `sleep 0.5`)
	leader.Leader = true
	tg := nomad.NewTaskGroup("g", 1).AddTask(leader).AddTask(shTask("helper", `exec sleep 300`))
	tg.RestartPolicy = &nomad.RestartPolicy{Attempts: ptr(0), Mode: ptr("fail")}
	job.AddTaskGroup(tg)
	_, _, err := s.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	waitFor(t, "the allocation to complete", func() bool {
		as, _, err := s.nomad.Jobs().Allocations("lead", true, nil)
		require.NoError(t, err)
		return len(as) == 1 && as[0].ClientStatus == "complete" && as[0].TaskStates["helper"].State == "dead"
	})
	as, _, err := s.nomad.Jobs().Allocations("lead", true, nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, countType(as[0].TaskStates["helper"].Events, "Leader Task Dead"), "the helper says why it stopped")
}

// TestShutdownDelayAndKillSignal: a stop waits the group's and the
// task's shutdown_delay, then sends the task's kill_signal.
func TestShutdownDelayAndKillSignal(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")

	job := shJob("delay", `trap 'echo got-usr2 > got; exit 0' USR2; echo up > up; while true; do sleep 0.05; done`)
	task := job.TaskGroups[0].Tasks[0]
	task.KillSignal = "SIGUSR2"
	task.ShutdownDelay = 300 * time.Millisecond
	job.TaskGroups[0].ShutdownDelay = ptr(200 * time.Millisecond)
	alloc := runJob(t, s.nomad, job)
	taskDir := node.taskDir(alloc.ID, "web")
	waitFor(t, "the task to start", func() bool { _, err := os.Stat(filepath.Join(taskDir, "up")); return err == nil })

	_, _, err := s.nomad.Jobs().Deregister("delay", false, nil)
	require.NoError(t, err)
	waitFor(t, "the task to stop", func() bool {
		a := allocInfo(t, s.nomad, alloc.ID)
		return a.ClientStatus == "complete"
	})
	b, err := os.ReadFile(filepath.Join(taskDir, "got"))
	require.NoError(t, err)
	require.Equal(t, "got-usr2\n", string(b), "the kill signal")
	var delayed bool
	for _, e := range allocInfo(t, s.nomad, alloc.ID).TaskStates["web"].Events {
		delayed = delayed || (e.Type == "Killing" && e.DisplayMessage != "" && strings.Contains(e.DisplayMessage, "shutdown_delay 300ms"))
	}
	require.True(t, delayed, "the task's shutdown delay is reported")

	back, _, err := s.nomad.Jobs().Info("delay", nil)
	require.NoError(t, err)
	require.Equal(t, 200*time.Millisecond, *back.TaskGroups[0].ShutdownDelay)
	require.Equal(t, 300*time.Millisecond, back.TaskGroups[0].Tasks[0].ShutdownDelay)
}

// TestSidecarsRestartAndStopWithTheMainTasks: in a batch job, a prestart
// sidecar that fails is restarted per the restart policy, and when the
// main task completes the sidecar is stopped and the allocation
// completes.
func TestSidecarsRestartAndStopWithTheMainTasks(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")

	job := nomad.NewBatchJob("side", "side", "global", 50)
	tg := nomad.NewTaskGroup("g", 1).
		AddTask(lifecycle(shTask("proxy", `echo run >> runs; if [ "$(wc -l < runs)" -lt 2 ]; then exit 1; fi; exec sleep 300`), "prestart", true)).
		AddTask(shTask("work", `sleep 0.5; echo done > done`))
	tg.RestartPolicy = &nomad.RestartPolicy{Attempts: ptr(2), Interval: ptr(time.Minute), Delay: ptr(time.Duration(0)), Mode: ptr("fail")}
	job.AddTaskGroup(tg)
	_, _, err := s.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	var alloc *nomad.AllocationListStub
	waitFor(t, "the allocation to complete", func() bool {
		as, _, err := s.nomad.Jobs().Allocations("side", true, nil)
		require.NoError(t, err)
		if len(as) == 1 && as[0].ClientStatus == "complete" {
			alloc = as[0]
			return true
		}
		return false
	})
	proxy := alloc.TaskStates["proxy"]
	require.Equal(t, "dead", proxy.State)
	require.False(t, proxy.Failed)
	require.EqualValues(t, 1, proxy.Restarts, "the sidecar restarted once after its failure")
	require.Equal(t, "run\nrun\n", readString(t, filepath.Join(node.taskDir(alloc.ID, "proxy"), "runs")))
	require.Equal(t, "done\n", readString(t, filepath.Join(node.taskDir(alloc.ID, "work"), "done")))
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

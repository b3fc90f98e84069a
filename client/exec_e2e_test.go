//go:build linux

package client_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	execdriver "github.com/droverhq/drover/driver/exec"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// alive reports whether pid names a live process (zombies are dead).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z' && s[i+2] != 'X'
}

func pidsIn(t *testing.T, path string) []int {
	t.Helper()
	var pids []int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pids = nil
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			require.NoError(t, err)
			pids = append(pids, pid)
		}
		return true
	}, deadline, 10*time.Millisecond, "waiting for %s", path)
	return pids
}

// waitForLine waits until path holds a complete line.
func waitForLine(t *testing.T, path string) {
	t.Helper()
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.HasSuffix(string(b), "\n")
	}, deadline, 10*time.Millisecond, "waiting for %s", path)
}

// markedProcs lists the live host processes whose environment holds
// marker (a KEY=value the test gave a task), and their command lines: an
// isolated task's pids are its namespace's, so the test finds them so.
func markedProcs(t *testing.T, marker string) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	out := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !slices.Contains(strings.Split(string(env), "\x00"), marker) {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		out[pid] = strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return out
}

// markedProc waits for the one live process with marker whose command
// line starts with prefix, and returns its pid.
func markedProc(t *testing.T, marker, prefix string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		pid = 0
		for p, cmd := range markedProcs(t, marker) {
			if strings.HasPrefix(cmd, prefix) {
				pid = p
			}
		}
		return pid != 0
	}, deadline, 10*time.Millisecond, "waiting for the task's %q", prefix)
	return pid
}

func TestExecTaskRunsWritesItsLogAndIsStoppedWithItsWholeTree(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	exec := execdriver.New(nil)
	cliDir := filepath.Join(dir, "client")
	cli := startClient(t, client.Config{DataDir: cliDir, Servers: []string{srv.Addr()}, Drivers: []driver.Driver{exec}})
	defer harness.Shutdown(t, cli)

	// The task logs, then ignores SIGTERM: only the kill after the kill
	// timeout ends it. One child stays in its process group; a second one
	// leaves it (setsid), which only a pid namespace or a cgroup still
	// holds.
	task := shTask("web", `echo "hello from $DROVER_TASK_NAME of $NOMAD_ALLOC_ID in $(pwd) as $(id -u)"
echo "to stderr" >&2
trap "" TERM
sleep 300 &
setsid sleep 300 &
echo started > $NOMAD_TASK_DIR/started
while true; do sleep 0.05; done`)
	marker := "TREE_MARKER=" + uuid.NewString()
	task.Env["TREE_MARKER"] = strings.TrimPrefix(marker, "TREE_MARKER=")
	const killTimeout = 700 * time.Millisecond
	task.KillTimeout = durationpb.New(killTimeout)
	register(t, srv, job("web", "service", 1, task))

	var alloc *structs.Allocation
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		alloc = only(t, srv, "web")
		return alloc != nil && alloc.ClientStatus == structs.AllocClientRunning
	})
	taskDir := filepath.Join(allocDir(cliDir, alloc.Id), "web")
	waitForLine(t, filepath.Join(taskDir, "local", "started"))
	// The shell forks both children before it writes "started", but a
	// child may not have executed sleep yet.
	var tree map[int]string
	harness.Eventually(t, deadline, "both children to run", func() bool {
		sleepers := 0
		tree = markedProcs(t, marker)
		for _, cmd := range tree {
			if cmd == "sleep 300" {
				sleepers++
			}
		}
		return sleepers == 2
	})
	wantDir, wantUser := taskDir, strconv.Itoa(os.Getuid())
	if exec.Isolated() {
		wantDir, wantUser = "/", "65534"
	}
	logs := filepath.Join(allocDir(cliDir, alloc.Id), "alloc", "logs")
	require.Equal(t, "hello from web of "+alloc.Id+" in "+wantDir+" as "+wantUser+"\n",
		readFile(t, filepath.Join(logs, "web.stdout.0")), "the task ran in its dir, as its user, with drover's and Nomad's variables, logging to its file")
	require.Equal(t, "to stderr\n", readFile(t, filepath.Join(logs, "web.stderr.0")))

	_, err := srv.DeregisterJob(t.Context(), "", "web", false)
	require.NoError(t, err)
	harness.WaitFor(t, srv, deadline, "the task to be stopped", func() bool {
		return only(t, srv, "web").ClientStatus == structs.AllocClientComplete
	})
	st := only(t, srv, "web").TaskStates["web"]
	killing, killed := events(st, structs.TaskEventKilling), events(st, structs.TaskEventKilled)
	require.Len(t, killing, 1)
	require.Len(t, killed, 1)
	took := time.Duration(killed[0].Time - killing[0].Time)
	require.GreaterOrEqual(t, took, killTimeout, "the task had its kill timeout to stop")
	require.Less(t, took, killTimeout+deadline/4, "and was killed once it passed")
	require.Equal(t, int32(syscall.SIGKILL), killed[0].Signal)
	require.False(t, st.Failed, "a stop is not a failure")

	if exec.Isolated() || exec.Cgroup("x") != "" {
		require.Eventually(t, func() bool { return len(markedProcs(t, marker)) == 0 }, deadline, 10*time.Millisecond,
			"every process of the task is gone")
	} else {
		t.Log("no isolation and no writable cgroup v2: the process that left the task's group is not tracked; checking the group")
		require.Eventually(t, func() bool { return len(markedProcs(t, marker)) <= 1 }, deadline, 10*time.Millisecond)
		for pid := range markedProcs(t, marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func TestCrashingTaskIsRestartedPerPolicyThenFailsTheAllocation(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	cli := startClient(t, client.Config{DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()},
		Drivers: []driver.Driver{execdriver.New(nil)}})
	defer harness.Shutdown(t, cli)

	j := job("crash", "service", 1, shTask("crash", `echo run >> $NOMAD_TASK_DIR/runs; exit 3`))
	j.TaskGroups[0].RestartPolicy = &structs.RestartPolicy{
		Attempts: 2, Interval: durationpb.New(time.Hour), Delay: durationpb.New(50 * time.Millisecond), Mode: structs.RestartModeFail,
	}
	register(t, srv, j)
	harness.WaitFor(t, srv, deadline, "the allocation to fail", func() bool {
		a := only(t, srv, "crash")
		return a != nil && a.ClientStatus == structs.AllocClientFailed
	})
	a := only(t, srv, "crash")
	st := a.TaskStates["crash"]
	require.Equal(t, structs.TaskStateDead, st.State)
	require.True(t, st.Failed)
	require.Equal(t, uint32(2), st.Restarts, "restarted as many times as the policy allows")
	require.Len(t, events(st, structs.TaskEventStarted), 3)
	require.Len(t, events(st, structs.TaskEventRestarting), 2)
	terminated := events(st, structs.TaskEventTerminated)
	require.Len(t, terminated, 3)
	for _, e := range terminated {
		require.Equal(t, int32(3), e.ExitCode)
	}
	notRestarting := events(st, structs.TaskEventNotRestarting)
	require.Len(t, notRestarting, 1)
	require.Contains(t, notRestarting[0].Message, "fail mode")
	counter := filepath.Join(allocDir(filepath.Join(dir, "client"), a.Id), "crash", "local", "runs")
	require.Equal(t, "run\nrun\nrun\n", readFile(t, counter), "three runs: the first and two restarts")
}

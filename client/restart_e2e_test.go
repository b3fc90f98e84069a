//go:build linux

package client_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// childClient is a client running in another process: this test binary,
// re-executed in child mode (see TestMain).
type childClient struct {
	cmd *exec.Cmd
	log string
}

func startChildClient(t *testing.T, dataDir, server, name string) *childClient {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(log)
	require.NoError(t, err)
	defer logFile.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dataDir, childServerEnv+"="+server)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &childClient{cmd: cmd, log: log}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("%s's log:\n%s", name, b)
		}
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := sc.Scan() && sc.Text() == "ready"
		ready <- ok
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		require.True(t, ok, "the child client registers")
	case <-time.After(deadline):
		t.Fatal("the child client did not register")
	}
	return c
}

// killHard ends the child with SIGKILL: no shutdown, no last words.
func (c *childClient) killHard(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Kill())
	err := c.cmd.Wait()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	require.Equal(t, syscall.SIGKILL, exitErr.Sys().(syscall.WaitStatus).Signal())
}

// stop ends the child with SIGTERM, which it answers with Shutdown.
func (c *childClient) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, c.cmd.Wait(), "the child client shuts down cleanly")
}

// startTime reads a process's start time, which with its pid names it.
func startTime(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])[19]
}

func TestHardKilledClientFindsItsTaskStillRunningAfterRestart(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	clientDir := filepath.Join(dir, "client")
	first := startChildClient(t, clientDir, srv.Addr(), "first")

	// The task may run in a pid namespace of its own: the test finds its
	// process on the host by a variable only it has.
	task := shTask("worker", `echo $$ >> $NOMAD_TASK_DIR/runs; exec sleep 600`)
	marker := "WORKER_MARKER=" + uuid.NewString()
	task.Env["WORKER_MARKER"] = strings.TrimPrefix(marker, "WORKER_MARKER=")
	j := job("worker", "service", 1, task)
	j.TaskGroups[0].RestartPolicy = &structs.RestartPolicy{
		Attempts: 1, Interval: durationpb.New(time.Hour), Delay: durationpb.New(0), Mode: structs.RestartModeFail,
	}
	register(t, srv, j)
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		a := only(t, srv, "worker")
		return a != nil && a.ClientStatus == structs.AllocClientRunning
	})
	before := only(t, srv, "worker")
	runs := filepath.Join(allocDir(clientDir, before.Id), "worker", "local", "runs")
	pid := markedProc(t, marker, "sleep 600")
	started := startTime(t, pid)
	require.Len(t, pidsIn(t, runs), 1)

	first.killHard(t)
	require.True(t, alive(pid), "the task outlives its client")

	second := startChildClient(t, clientDir, srv.Addr(), "second")
	harness.WaitFor(t, srv, deadline, "the restarted client to report the task", func() bool {
		return only(t, srv, "worker").ModifyIndex > before.ModifyIndex
	})
	after := only(t, srv, "worker")
	require.Equal(t, before.Id, after.Id)
	require.Equal(t, structs.AllocClientRunning, after.ClientStatus, "still reported running")
	st := after.TaskStates["worker"]
	require.Equal(t, structs.TaskStateRunning, st.State)
	require.Zero(t, st.Restarts, "reattached, not restarted")
	require.Len(t, events(st, structs.TaskEventStarted), 1)
	require.True(t, alive(pid))
	require.Equal(t, started, startTime(t, pid), "the very same process")
	require.Len(t, pidsIn(t, runs), 1, "the task never ran again")

	// The restarted client watches the process it reattached to: when it
	// dies, its restart policy applies.
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	harness.WaitFor(t, srv, deadline, "the task to be restarted", func() bool {
		return only(t, srv, "worker").TaskStates["worker"].GetRestarts() == 1 &&
			only(t, srv, "worker").ClientStatus == structs.AllocClientRunning
	})
	newPid := markedProc(t, marker, "sleep 600")
	require.NotEqual(t, pid, newPid)
	require.Len(t, pidsIn(t, runs), 2)
	st = only(t, srv, "worker").TaskStates["worker"]
	term := events(st, structs.TaskEventTerminated)
	require.NotEmpty(t, term)
	require.Equal(t, int32(-1), term[len(term)-1].ExitCode, "the exit code of a reattached process is unknown")

	_, err := srv.DeregisterJob(t.Context(), "", "worker", false)
	require.NoError(t, err)
	harness.WaitFor(t, srv, deadline, "the task to stop", func() bool {
		return only(t, srv, "worker").ClientStatus == structs.AllocClientComplete
	})
	require.Eventually(t, func() bool { return len(markedProcs(t, marker)) == 0 }, deadline, 10*time.Millisecond)
	second.stop(t)
}

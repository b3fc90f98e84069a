package client_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/rawexec"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// TestShutdownAndStopTasksLeavesNoTaskBehind: a raw_exec task outlives
// Shutdown, to be reattached; with ShutdownAndStopTasks it is stopped,
// through its kill signal.
func TestShutdownAndStopTasksLeavesNoTaskBehind(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)

	run := func(name string, stop func(*client.Client, context.Context) error) int {
		cli := startClient(t, client.Config{DataDir: filepath.Join(dir, name), Servers: []string{srv.Addr()},
			Drivers: []driver.Driver{rawexec.New(nil)}})
		pidFile := filepath.Join(dir, name+".pid")
		task := shTask("sleeper", `echo $$ > `+pidFile+`; exec sleep 300`)
		task.Driver = "raw_exec"
		register(t, srv, job(name, "service", 1, task))
		harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
			a := only(t, srv, name)
			return a != nil && a.ClientStatus == structs.AllocClientRunning
		})
		pid := pidsIn(t, pidFile)[0]
		require.True(t, alive(pid))
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		require.NoError(t, stop(cli, ctx))
		// The node is gone: nothing more is placed on it.
		_, _, err := srv.UpdateNodeEligibility(ctx, cli.NodeID(), false)
		require.NoError(t, err)
		return pid
	}

	kept := run("kept", (*client.Client).Shutdown)
	require.True(t, alive(kept), "Shutdown leaves the task running, to be reattached")
	require.NoError(t, syscall.Kill(kept, syscall.SIGKILL))

	stopped := run("stopped", (*client.Client).ShutdownAndStopTasks)
	require.Eventually(t, func() bool { return !alive(stopped) }, deadline, 10*time.Millisecond,
		"ShutdownAndStopTasks stops the task")
}

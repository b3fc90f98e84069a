package client_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/structs"
)

func TestUpdatesSurviveALeaderFailover(t *testing.T) {
	cluster := testcluster.New(t, testcluster.Options{Servers: 3})
	leader := cluster.WaitLeader(deadline)
	// The client talks to the leader first, so losing it means moving on.
	servers := []string{leader.Addr}
	for _, m := range cluster.Members() {
		if m != leader {
			servers = append(servers, m.Addr)
		}
	}
	m := mock.New(nil)
	defer m.Close()
	cli := startClient(t, client.Config{DataDir: filepath.Join(t.TempDir(), "client"), Servers: servers,
		Drivers: []driver.Driver{m}, UpdateInterval: 50 * time.Millisecond})
	defer harness.Shutdown(t, cli)

	srv := leader.Server()
	register(t, srv, job("report", "batch", 1, mockTask("report", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		a := only(t, srv, "report")
		return a != nil && a.ClientStatus == structs.AllocClientRunning
	})
	allocID := only(t, srv, "report").Id

	leader.Stop()
	// The task ends while the cluster elects a new leader.
	require.NoError(t, m.StopTask(context.Background(), allocID+"/report", time.Second, ""))
	next := cluster.WaitLeader(deadline)
	require.NotEqual(t, leader.Name, next.Name)
	srv = next.Server()
	harness.WaitFor(t, srv, deadline, "the new leader to learn how the task ended", func() bool {
		a := only(t, srv, "report")
		return a != nil && a.ClientStatus == structs.AllocClientFailed
	})
	term := events(only(t, srv, "report").TaskStates["report"], structs.TaskEventTerminated)
	require.Len(t, term, 1)
	require.Equal(t, int32(143), term[0].ExitCode)
}

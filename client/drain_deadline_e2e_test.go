package client_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// A drain of the only node: its service allocations have nowhere to go,
// and the deadline stops them anyway, so the drain completes.
func TestDrainDeadlineStopsServiceWorkWithNowhereToGo(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	m := mock.New(nil)
	defer m.Close()
	a := startClient(t, client.Config{DataDir: filepath.Join(dir, "a"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{m}})
	defer harness.Shutdown(t, a)
	register(t, srv, job("web", "service", 2, mockTask("web", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "the service to run", func() bool { return countStatus(allocs(t, srv, "web"), structs.AllocClientRunning) == 2 })

	const drainDeadline = 2 * time.Second
	began := time.Now()
	_, err := srv.UpdateNodeDrain(ctx, a.NodeID(), &drover.NodeDrain{Deadline: drainDeadline}, false)
	require.NoError(t, err)
	// The wait is bounded by the test's deadline, not the drain's: the
	// allocations stop once the drain's deadline has passed.
	harness.WaitFor(t, srv, deadline, "the deadline to stop the service allocations", func() bool {
		for _, al := range allocs(t, srv, "web") {
			if al.NodeId == a.NodeID() && al.DesiredStatus == structs.AllocDesiredRun {
				return false
			}
		}
		return true
	})
	require.GreaterOrEqual(t, time.Since(began), drainDeadline-time.Second/2, "not before the deadline")
	harness.WaitFor(t, srv, deadline, "the drain to complete", func() bool {
		return nodeOf(t, ctx, srv, a.NodeID()).GetLastDrain().GetStatus() == structs.DrainStatusComplete
	})
}

// Nomad's meaning of the deadline: 0 is none, negative forces the drain.
func TestDrainDeadlineZeroIsNoneAndNegativeForces(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	m := mock.New(nil)
	defer m.Close()
	a := startClient(t, client.Config{DataDir: filepath.Join(dir, "a"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{m}})
	defer harness.Shutdown(t, a)
	register(t, srv, job("web", "service", 1, mockTask("web", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "the service to run", func() bool { return countStatus(allocs(t, srv, "web"), structs.AllocClientRunning) == 1 })

	_, err := srv.UpdateNodeDrain(ctx, a.NodeID(), &drover.NodeDrain{Deadline: 0}, false)
	require.NoError(t, err)
	ds := nodeOf(t, ctx, srv, a.NodeID()).GetDrainStrategy()
	require.NotNil(t, ds)
	require.Zero(t, ds.ForceDeadline, "no deadline: the drain waits for as long as it takes")

	_, err = srv.UpdateNodeDrain(ctx, a.NodeID(), &drover.NodeDrain{Deadline: -1}, false)
	require.NoError(t, err)
	harness.WaitFor(t, srv, deadline, "the forced drain to stop the allocation", func() bool {
		return only(t, srv, "web").DesiredStatus == structs.AllocDesiredStop
	})
	harness.WaitFor(t, srv, deadline, "the drain to complete", func() bool {
		return nodeOf(t, ctx, srv, a.NodeID()).GetLastDrain().GetStatus() == structs.DrainStatusComplete
	})
}

package client_test

import (
	"context"
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

func nodeOf(t *testing.T, ctx context.Context, srv interface {
	Nodes(context.Context) ([]*structs.Node, error)
}, id string) *structs.Node {
	t.Helper()
	nodes, err := srv.Nodes(ctx)
	require.NoError(t, err)
	for _, n := range nodes {
		if n.Id == id {
			return n
		}
	}
	t.Fatalf("node %s not found", id)
	return nil
}

func TestDrainMovesAllocationsToAnotherClient(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	mockA, mockB := mock.New(nil), mock.New(nil)
	defer mockA.Close()
	defer mockB.Close()
	a := startClient(t, client.Config{DataDir: filepath.Join(dir, "a"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{mockA}})
	defer harness.Shutdown(t, a)

	register(t, srv, job("web", "service", 3, mockTask("web", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "3 running allocations on a", func() bool {
		return countStatus(allocs(t, srv, "web"), structs.AllocClientRunning) == 3
	})
	b := startClient(t, client.Config{DataDir: filepath.Join(dir, "b"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{mockB}})
	defer harness.Shutdown(t, b)
	old := allocs(t, srv, "web")

	require.NoError(t, a.Drain(ctx, time.Hour))
	n := nodeOf(t, ctx, srv, a.NodeID())
	require.Equal(t, structs.NodeIneligible, n.SchedulingEligibility)
	require.NotNil(t, n.DrainStrategy)

	harness.WaitFor(t, srv, deadline, "the work to run on b and the drain to complete", func() bool {
		running := 0
		for _, al := range allocs(t, srv, "web") {
			if al.ClientStatus == structs.AllocClientRunning && al.DesiredStatus == structs.AllocDesiredRun {
				if al.NodeId != b.NodeID() {
					return false
				}
				running++
			}
		}
		return running == 3 && nodeOf(t, ctx, srv, a.NodeID()).DrainStrategy == nil
	})
	n = nodeOf(t, ctx, srv, a.NodeID())
	require.Equal(t, structs.DrainStatusComplete, n.LastDrain.GetStatus(), "the drain is recorded as complete")
	require.Positive(t, n.LastDrain.GetStartedAt())
	require.Equal(t, structs.NodeIneligible, n.SchedulingEligibility, "a drained node stays ineligible")

	byID := map[string]*structs.Allocation{}
	for _, al := range allocs(t, srv, "web") {
		byID[al.Id] = al
	}
	names := map[string]bool{}
	for _, o := range old {
		al := byID[o.Id]
		require.True(t, al.GetDesiredTransition().GetMigrate(), "marked to migrate")
		require.Equal(t, structs.AllocDesiredStop, al.DesiredStatus)
		names[al.Name] = true
	}
	harness.WaitFor(t, srv, deadline, "a to stop the migrated tasks", func() bool {
		for _, o := range old {
			for _, al := range allocs(t, srv, "web") {
				if al.Id == o.Id && al.ClientStatus != structs.AllocClientComplete {
					return false
				}
			}
		}
		return true
	})
	for _, al := range allocs(t, srv, "web") {
		if al.NodeId == b.NodeID() {
			require.True(t, names[al.Name], "each replacement takes a migrated allocation's name")
		}
	}

	// Cancelled drain, eligible again: new work may land on a.
	require.NoError(t, a.CancelDrain(ctx, true))
	require.Equal(t, structs.NodeEligible, nodeOf(t, ctx, srv, a.NodeID()).SchedulingEligibility)
}

func TestDrainDeadlineStopsBatchWorkLeftOnTheNode(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	m := mock.New(nil)
	defer m.Close()
	a := startClient(t, client.Config{DataDir: filepath.Join(dir, "a"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{m}})
	defer harness.Shutdown(t, a)

	register(t, srv, job("report", "batch", 1, mockTask("report", map[string]any{"run_for": "-1"})))
	register(t, srv, job("web", "service", 1, mockTask("web", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "both tasks to run", func() bool {
		return countStatus(allocs(t, srv, "report"), structs.AllocClientRunning) == 1 &&
			countStatus(allocs(t, srv, "web"), structs.AllocClientRunning) == 1
	})
	// An operator drains the node: service work goes at once, batch work
	// may finish until the deadline.
	const drainDeadline = 3 * time.Second
	_, err := srv.UpdateNodeDrain(ctx, a.NodeID(), &drover.NodeDrain{Deadline: drainDeadline}, false)
	require.NoError(t, err)
	began := time.Now()
	batchMarked := true
	harness.WaitFor(t, srv, deadline, "the service allocation to be migrated", func() bool {
		batchMarked = allocs(t, srv, "report")[0].GetDesiredTransition().GetMigrate()
		return allocs(t, srv, "web")[0].GetDesiredTransition().GetMigrate()
	})
	if time.Since(began) < drainDeadline {
		require.False(t, batchMarked, "batch work is left alone before the deadline")
	}
	harness.WaitFor(t, srv, deadline, "the deadline to stop the batch task", func() bool {
		al := allocs(t, srv, "report")[0]
		return al.DesiredStatus == structs.AllocDesiredStop && al.ClientStatus == structs.AllocClientComplete
	})
	require.GreaterOrEqual(t, time.Since(began), drainDeadline-time.Second/2, "not before the deadline")
	harness.WaitFor(t, srv, deadline, "the drain to complete", func() bool {
		return nodeOf(t, ctx, srv, a.NodeID()).GetLastDrain().GetStatus() == structs.DrainStatusComplete
	})
	_, err = srv.UpdateNodeDrain(ctx, "no-such-node", &drover.NodeDrain{}, false)
	require.ErrorIs(t, err, structs.ErrNotFound)
}

func TestDrainOnShutdownMigratesBeforeTheClientStops(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	mockA, mockB := mock.New(nil), mock.New(nil)
	defer mockA.Close()
	defer mockB.Close()
	a := startClient(t, client.Config{
		DataDir: filepath.Join(dir, "a"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{mockA},
		DrainOnShutdown: &client.DrainConfig{Deadline: time.Hour}, LeaveOnTerminate: true,
	})
	register(t, srv, job("web", "service", 2, mockTask("web", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "2 running allocations", func() bool {
		return countStatus(allocs(t, srv, "web"), structs.AllocClientRunning) == 2
	})
	b := startClient(t, client.Config{DataDir: filepath.Join(dir, "b"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{mockB}})
	defer harness.Shutdown(t, b)

	harness.Shutdown(t, a) // leaves: drains first
	for _, al := range allocs(t, srv, "web") {
		if al.NodeId == a.NodeID() {
			require.Equal(t, structs.AllocDesiredStop, al.DesiredStatus)
			require.Equal(t, structs.AllocClientComplete, al.ClientStatus, "stopped, and said so, before Shutdown returned")
		}
	}
	harness.WaitFor(t, srv, deadline, "the work to run on b", func() bool {
		n := 0
		for _, al := range allocs(t, srv, "web") {
			if al.NodeId == b.NodeID() && al.ClientStatus == structs.AllocClientRunning {
				n++
			}
		}
		return n == 2
	})
}

package client_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport/inmem"
)

func nodeStatus(t *testing.T, srv *drover.Server, id string) string {
	t.Helper()
	n, err := srv.Node(context.Background(), id)
	require.NoError(t, err)
	return n.Status
}

func allocByID(t *testing.T, srv *drover.Server, jobID, id string) *structs.Allocation {
	t.Helper()
	for _, a := range allocs(t, srv, jobID) {
		if a.Id == id {
			return a
		}
	}
	t.Fatalf("no allocation %s", id)
	return nil
}

// windowJob is a service job of one mock task that runs until stopped,
// whose group waits window for a disconnected node.
func windowJob(id string, window time.Duration) *structs.Job {
	j := job(id, "service", 1, mockTask("work", map[string]any{"run_for": "-1"}))
	j.TaskGroups[0].MaxClientDisconnect = durationpb.New(window)
	return j
}

// A client cut off from the servers for longer than its TTL, but not its
// allocation's disconnect window, keeps running the allocation all along;
// once it is back, it tells the servers so and the replacement goes.
func TestNetworkCutInsideTheDisconnectWindowKeepsTheTaskRunning(t *testing.T) {
	dir := t.TempDir()
	network := inmem.NewNetwork()
	srvTr, victimTr, otherTr := network.Transport(), network.Transport(), network.Transport()
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: filepath.Join(dir, "server"), BindAddr: "server:0", Transport: srvTr,
		Logger:    harness.Logger(t).With("agent", "server"),
		Heartbeat: drover.HeartbeatConfig{MinTTL: 300 * time.Millisecond, Grace: 200 * time.Millisecond},
	})
	require.NoError(t, err)
	defer harness.Shutdown(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	require.NoError(t, srv.WaitForLeader(ctx))

	vm := mock.New(nil)
	defer vm.Close()
	victim := startClient(t, client.Config{DataDir: filepath.Join(dir, "victim"), Servers: []string{srv.Addr()},
		Transport: victimTr, Drivers: []driver.Driver{vm}, UpdateInterval: 50 * time.Millisecond})
	defer harness.Shutdown(t, victim)
	register(t, srv, windowJob("cut", 5*time.Minute))
	harness.WaitFor(t, srv, deadline, "the allocation to run on the first client", func() bool {
		a := only(t, srv, "cut")
		return a != nil && a.ClientStatus == structs.AllocClientRunning
	})
	orig := only(t, srv, "cut")
	exited, err := vm.WaitTask(ctx, orig.Id+"/work")
	require.NoError(t, err)

	om := mock.New(nil)
	defer om.Close()
	other := startClient(t, client.Config{DataDir: filepath.Join(dir, "other"), Servers: []string{srv.Addr()},
		Transport: otherTr, Drivers: []driver.Driver{om}, UpdateInterval: 50 * time.Millisecond})
	defer harness.Shutdown(t, other)

	// The first client's host loses the network (its transport's name).
	network.Isolate("host-2")
	var replID string
	harness.WaitFor(t, srv, deadline, "the replacement to run elsewhere, the original unknown", func() bool {
		a := allocByID(t, srv, "cut", orig.Id)
		if a.ClientStatus != structs.AllocClientUnknown || a.NextAllocation == "" {
			return false
		}
		replID = a.NextAllocation
		r := allocByID(t, srv, "cut", replID)
		return r.NodeId == other.NodeID() && r.ClientStatus == structs.AllocClientRunning
	})
	require.Equal(t, structs.NodeStatusDisconnected, nodeStatus(t, srv, victim.NodeID()))
	select {
	case <-exited:
		t.Fatal("the task of an unknown allocation was stopped")
	default:
	}

	network.Rejoin("host-2")
	harness.WaitFor(t, srv, deadline, "the original reported running again and the replacement stopped", func() bool {
		a, r := allocByID(t, srv, "cut", orig.Id), allocByID(t, srv, "cut", replID)
		return a.ClientStatus == structs.AllocClientRunning && a.DisconnectedAt == 0 &&
			r.ClientStatus == structs.AllocClientComplete
	})
	require.Equal(t, structs.NodeStatusReady, nodeStatus(t, srv, victim.NodeID()))
	select {
	case <-exited:
		t.Fatal("the task was stopped")
	default:
	}
	st := allocByID(t, srv, "cut", orig.Id).TaskStates["work"]
	require.Len(t, events(st, structs.TaskEventStarted), 1)
	require.Empty(t, events(st, structs.TaskEventKilling), "never asked to stop")
	require.Equal(t, structs.AllocDesiredStop, allocByID(t, srv, "cut", replID).DesiredStatus)
}

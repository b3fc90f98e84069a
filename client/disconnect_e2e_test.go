//go:build linux

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

// startShortTTLServer starts a server whose clients heartbeat every
// 300-600ms and are missed 200ms after that.
func startShortTTLServer(t *testing.T, dir string) *drover.Server {
	t.Helper()
	return harness.StartServer(t, drover.ServerOptions{
		DataDir: dir, Heartbeat: drover.HeartbeatConfig{MinTTL: 300 * time.Millisecond, Grace: 200 * time.Millisecond},
	})
}

// disconnectScenario runs jobID's one allocation on a client in another
// process, starts a second client here, kills the first outright and
// waits for the servers to mark its node disconnected, its allocation
// unknown, and the replacement running on the second client. It returns
// the original allocation and the replacement's id.
func disconnectScenario(t *testing.T, srv *drover.Server, clientDir, jobID string, window time.Duration) (*structs.Allocation, string, *client.Client) {
	t.Helper()
	victim := startChildClient(t, clientDir, srv.Addr(), "victim")
	register(t, srv, windowJob(jobID, window))
	harness.WaitFor(t, srv, deadline, "the allocation to run on the first client", func() bool {
		a := only(t, srv, jobID)
		return a != nil && a.ClientStatus == structs.AllocClientRunning
	})
	orig := only(t, srv, jobID)

	m := mock.New(nil)
	t.Cleanup(m.Close)
	other := startClient(t, client.Config{DataDir: filepath.Join(t.TempDir(), "other"), Servers: []string{srv.Addr()},
		Drivers: []driver.Driver{m}, UpdateInterval: 50 * time.Millisecond})
	t.Cleanup(func() { harness.Shutdown(t, other) })

	victim.killHard(t)
	harness.WaitFor(t, srv, deadline, "the replacement to run on the second client, the original waiting", func() bool {
		a := allocByID(t, srv, jobID, orig.Id)
		if a.ClientStatus != structs.AllocClientUnknown || a.NextAllocation == "" {
			return false
		}
		r := allocByID(t, srv, jobID, a.NextAllocation)
		return r.NodeId == other.NodeID() && r.ClientStatus == structs.AllocClientRunning
	})
	require.Equal(t, structs.NodeStatusDisconnected, nodeStatus(t, srv, orig.NodeId))
	a := allocByID(t, srv, jobID, orig.Id)
	require.Equal(t, structs.AllocDesiredRun, a.DesiredStatus, "the original is still wanted")
	require.NotZero(t, a.DisconnectedAt)
	return orig, a.NextAllocation, other
}

func TestClientBackWithinItsDisconnectWindowKeepsItsAllocation(t *testing.T) {
	dir := t.TempDir()
	srv := startShortTTLServer(t, filepath.Join(dir, "server"))
	defer harness.Shutdown(t, srv)
	clientDir := filepath.Join(dir, "victim")
	orig, replID, _ := disconnectScenario(t, srv, clientDir, "kept", 5*time.Minute)

	back := startChildClient(t, clientDir, srv.Addr(), "victim-again")
	harness.WaitFor(t, srv, deadline, "the original running again and its replacement stopped", func() bool {
		a, r := allocByID(t, srv, "kept", orig.Id), allocByID(t, srv, "kept", replID)
		return a.ClientStatus == structs.AllocClientRunning && a.DisconnectedAt == 0 &&
			r.DesiredStatus == structs.AllocDesiredStop && r.ClientStatus == structs.AllocClientComplete
	})
	require.Equal(t, structs.NodeStatusReady, nodeStatus(t, srv, orig.NodeId))
	a := allocByID(t, srv, "kept", orig.Id)
	require.Equal(t, structs.AllocDesiredRun, a.DesiredStatus)
	require.Empty(t, a.NextAllocation, "it replaces nothing any more")
	require.NotZero(t, a.ReconnectedAt)
	st := a.TaskStates["work"]
	require.Equal(t, structs.TaskStateRunning, st.State)
	require.Zero(t, st.Restarts, "reattached, never killed")
	require.Len(t, events(st, structs.TaskEventStarted), 1, "the same task, not a new one")
	require.Empty(t, events(st, structs.TaskEventKilling))
	require.Equal(t, "alloc not needed as the allocation it replaced reconnected", allocByID(t, srv, "kept", replID).DesiredDescription)
	for _, x := range allocs(t, srv, "kept") {
		require.NotEqual(t, structs.AllocClientLost, x.ClientStatus, "nothing was lost")
	}
	require.Len(t, allocs(t, srv, "kept"), 2, "no further placement")
	back.stop(t)
}

func TestClientAwayPastItsDisconnectWindowLosesItsAllocation(t *testing.T) {
	dir := t.TempDir()
	srv := startShortTTLServer(t, filepath.Join(dir, "server"))
	defer harness.Shutdown(t, srv)
	clientDir := filepath.Join(dir, "victim")
	const window = 2 * time.Second
	orig, replID, other := disconnectScenario(t, srv, clientDir, "lost", window)

	harness.WaitFor(t, srv, deadline, "the window to run out", func() bool {
		return allocByID(t, srv, "lost", orig.Id).ClientStatus == structs.AllocClientLost
	})
	a := allocByID(t, srv, "lost", orig.Id)
	require.Equal(t, structs.AllocDesiredStop, a.DesiredStatus)
	require.GreaterOrEqual(t, a.ModifyTime, a.DisconnectedAt+int64(window), "lost only once its window ran out")
	harness.WaitFor(t, srv, deadline, "the node to be down", func() bool { return nodeStatus(t, srv, orig.NodeId) == structs.NodeStatusDown })
	r := allocByID(t, srv, "lost", replID)
	require.Equal(t, structs.AllocDesiredRun, r.DesiredStatus, "the replacement carries on")
	require.Equal(t, structs.AllocClientRunning, r.ClientStatus)
	require.Equal(t, other.NodeID(), r.NodeId)

	// The client comes back too late: it stops what the servers gave up
	// on, and the replacement is untouched.
	back := startChildClient(t, clientDir, srv.Addr(), "victim-late")
	harness.WaitFor(t, srv, deadline, "the node ready and the original stopped on it", func() bool {
		a := allocByID(t, srv, "lost", orig.Id)
		return nodeStatus(t, srv, orig.NodeId) == structs.NodeStatusReady &&
			a.TaskStates["work"].GetState() == structs.TaskStateDead
	})
	r = allocByID(t, srv, "lost", replID)
	require.Equal(t, structs.AllocDesiredRun, r.DesiredStatus)
	require.Equal(t, structs.AllocClientRunning, r.ClientStatus)
	require.Len(t, allocs(t, srv, "lost"), 2)
	back.stop(t)
}

package server

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/structs"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// keepBeating heartbeats for node id every 50ms until the test ends.
func keepBeating(t *testing.T, s *Server, id string) {
	t.Helper()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				_, _ = s.Heartbeat(context.Background(), id, id+"-secret")
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// reportRunning reports every allocation of the node wanted running and
// not yet running as running, as its client would.
func reportRunning(t *testing.T, s *Server, node string) {
	t.Helper()
	var upd []*structs.Allocation
	for _, a := range s.state.Snapshot().AllocsByNode(node) {
		if a.DesiredStatus == structs.AllocDesiredRun && a.ClientStatus != structs.AllocClientRunning {
			upd = append(upd, &structs.Allocation{Id: a.Id, ClientStatus: structs.AllocClientRunning})
		}
	}
	if len(upd) > 0 {
		_, err := s.UpdateAllocations(context.Background(), node, node+"-secret", upd)
		require.NoError(t, err)
	}
}

// windowScenario runs job j (2 allocations, the given window) on node a,
// then registers node b, which keeps heartbeating while a goes silent.
func windowScenario(t *testing.T, window time.Duration) (*Server, []*structs.Allocation) {
	t.Helper()
	s := testServer(t, heartbeat.Config{MinTTL: 200 * time.Millisecond, Grace: 100 * time.Millisecond, FailoverTTL: time.Second, MaxPerSecond: 50})
	ctx := context.Background()
	_, err := s.RegisterNode(ctx, mockNode("a"))
	require.NoError(t, err)
	job := mockJob("j", 2)
	job.TaskGroups[0].MaxClientDisconnect = durationpb.New(window)
	_, err = s.RegisterJob(ctx, job)
	require.NoError(t, err)
	waitState(t, s, "2 allocations on node a", func() bool { return len(s.state.Snapshot().AllocsByNode("a")) == 2 })
	reportRunning(t, s, "a")
	originals := s.state.Snapshot().AllocsByNode("a")
	_, err = s.RegisterNode(ctx, mockNode("b"))
	require.NoError(t, err)
	keepBeating(t, s, "b")

	waitState(t, s, "node a disconnected and its work replaced on b", func() bool {
		snap := s.state.Snapshot()
		return snap.Node("a").GetStatus() == structs.NodeStatusDisconnected && len(snap.AllocsByNode("b")) == 2
	})
	snap := s.state.Snapshot()
	for _, o := range originals {
		a := snap.Alloc(o.Id)
		require.Equal(t, structs.AllocClientUnknown, a.ClientStatus)
		require.Equal(t, structs.AllocDesiredRun, a.DesiredStatus)
		require.NotZero(t, a.DisconnectedAt)
		require.NotEmpty(t, a.NextAllocation)
		repl := snap.Alloc(a.NextAllocation)
		require.Equal(t, "b", repl.NodeId)
		require.Equal(t, a.Name, repl.Name)
	}
	reportRunning(t, s, "b")
	return s, originals
}

func TestNodeBackWithinItsWindowKeepsItsAllocations(t *testing.T) {
	s, originals := windowScenario(t, time.Minute)
	ctx := context.Background()
	require.Eventually(t, func() bool { return counterValue(t, s.metrics.nodesDisconnected) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, counterValue(t, s.metrics.nodesDown), "disconnected, not down")

	_, err := s.Heartbeat(ctx, "a", "a-secret")
	require.NoError(t, err)
	keepBeating(t, s, "a")
	waitState(t, s, "the replacements stopped and the originals taken back", func() bool {
		snap := s.state.Snapshot()
		for _, a := range snap.AllocsByNode("b") {
			if a.DesiredStatus != structs.AllocDesiredStop {
				return false
			}
		}
		for _, o := range originals {
			if snap.Alloc(o.Id).DisconnectedAt != 0 {
				return false
			}
		}
		return true
	})
	snap := s.state.Snapshot()
	require.Equal(t, structs.NodeStatusReady, snap.Node("a").Status)
	for _, a := range snap.AllocsByNode("b") {
		require.Equal(t, "alloc not needed as the allocation it replaced reconnected", a.DesiredDescription)
	}
	for _, o := range originals {
		a := snap.Alloc(o.Id)
		require.Equal(t, structs.AllocDesiredRun, a.DesiredStatus)
		require.Empty(t, a.NextAllocation)
		require.NotZero(t, a.ReconnectedAt)
	}

	// The client reports them running again: the servers accept it.
	reportRunning(t, s, "a")
	for _, o := range originals {
		require.Equal(t, structs.AllocClientRunning, s.state.Snapshot().Alloc(o.Id).ClientStatus)
	}
	for _, a := range s.state.Snapshot().Allocs() {
		require.NotEqual(t, structs.AllocClientLost, a.ClientStatus, "nothing was lost")
	}
}

func TestNodeAwayPastItsWindowLosesItsAllocations(t *testing.T) {
	s, originals := windowScenario(t, time.Second)
	waitState(t, s, "node a down once the window ran out", func() bool {
		return s.state.Snapshot().Node("a").GetStatus() == structs.NodeStatusDown
	})
	snap := s.state.Snapshot()
	for _, o := range originals {
		a := snap.Alloc(o.Id)
		require.Equal(t, structs.AllocClientLost, a.ClientStatus)
		require.Equal(t, structs.AllocDesiredStop, a.DesiredStatus)
		require.NotZero(t, a.DisconnectedAt, "when it was disconnected stays on record")
		require.GreaterOrEqual(t, a.ModifyTime, a.DisconnectedAt+int64(time.Second), "lost no earlier than the window's end")
	}
	for _, a := range snap.AllocsByNode("b") {
		require.Equal(t, structs.AllocDesiredRun, a.DesiredStatus, "the replacements carry on")
		require.Equal(t, structs.AllocClientRunning, a.ClientStatus)
	}
	// Counted once the proposal returns, just after the state shows it.
	require.Eventually(t, func() bool { return counterValue(t, s.metrics.nodesDown) == 1 }, 10*time.Second, 5*time.Millisecond)
}

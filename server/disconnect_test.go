package server

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/structs"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// stepper moves a fake clock in 50ms steps, heartbeating for the nodes
// that stay alive at each step: their TTLs never run out, a silent
// node's does, exactly as the clock says.
type stepper struct {
	t       *testing.T
	s       *Server
	c       *clock.Fake
	beating []string
}

// until steps until cond holds, giving the server's goroutines the
// entries each step set off before looking again.
func (st *stepper) until(what string, cond func() bool) {
	st.t.Helper()
	for range 4000 { // 200 s of stepped time
		if cond() {
			return
		}
		for _, id := range st.beating {
			_, err := st.s.Heartbeat(context.Background(), id, id+"-secret")
			require.NoError(st.t, err)
		}
		idx := st.s.state.Snapshot().Index()
		st.c.Advance(50 * time.Millisecond)
		st.c.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		st.s.WaitForIndex(ctx, idx)
		cancel()
	}
	st.t.Fatalf("%s did not happen within 200 s of stepped time", what)
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
func windowScenario(t *testing.T, window time.Duration) (*Server, *stepper, []*structs.Allocation) {
	t.Helper()
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := testServerOn(t, heartbeat.Config{MinTTL: 200 * time.Millisecond, Grace: 100 * time.Millisecond, FailoverTTL: time.Second, MaxPerSecond: 50}, c)
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
	st := &stepper{t: t, s: s, c: c, beating: []string{"b"}}

	st.until("node a disconnected and its work replaced on b", func() bool {
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
	return s, st, originals
}

func TestNodeBackWithinItsWindowKeepsItsAllocations(t *testing.T) {
	s, _, originals := windowScenario(t, time.Minute)
	ctx := context.Background()
	require.Eventually(t, func() bool { return counterValue(t, s.metrics.nodesDisconnected) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, counterValue(t, s.metrics.nodesDown), "disconnected, not down")

	// Back within its window; time does not move meanwhile.
	_, err := s.Heartbeat(ctx, "a", "a-secret")
	require.NoError(t, err)
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
	s, st, originals := windowScenario(t, time.Second)
	st.until("node a down once the window ran out", func() bool {
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

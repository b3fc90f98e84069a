package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

// disconnectNode does what the servers do when a node misses its TTL:
// allocations with a window become unknown, the others lost.
func (s *fakeState) disconnectNode(nodeID string) {
	s.node(nodeID).Status = structs.NodeStatusDisconnected
	for i, a := range s.allocs {
		if a.NodeId != nodeID || a.ClientTerminal() {
			continue
		}
		c := proto.Clone(a).(*structs.Allocation)
		if a.CanDisconnect() {
			c.ClientStatus, c.DisconnectedAt = structs.AllocClientUnknown, testNow.Add(-10*time.Second).UnixNano()
		} else {
			c.ClientStatus, c.DesiredStatus = structs.AllocClientLost, structs.AllocDesiredStop
		}
		s.allocs[i] = c
	}
}

func (s *fakeState) byID(t *testing.T, id string) *structs.Allocation {
	t.Helper()
	for _, a := range s.allocs {
		if a.Id == id {
			return a
		}
	}
	t.Fatalf("no allocation %s", id)
	return nil
}

func (s *fakeState) setStatusOf(id, status string) {
	for i, a := range s.allocs {
		if a.Id == id {
			c := proto.Clone(a).(*structs.Allocation)
			c.ClientStatus = status
			s.allocs[i] = c
		}
	}
}

// windowJob is a service job of count tasks with a disconnect window.
func windowJob(count int32) *structs.Job {
	j := testJob("web", structs.JobTypeService, count, 100, 100)
	j.TaskGroups[0].MaxClientDisconnect = durationpb.New(time.Minute)
	return j
}

// disconnectedScenario runs web (2 allocations, window of a minute) on a
// and b, with c free, then disconnects a and places the replacement.
// It returns the state, the original on a and its replacement.
func disconnectedScenario(t *testing.T) (st *fakeState, j *structs.Job, orig, repl *structs.Allocation) {
	t.Helper()
	st = newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000), testNode("c", 1000, 1000))
	j = windowJob(2)
	j.TaskGroups[0].Constraints = nil
	st.upsertJob(j)
	// Place on a and b only: c joins afterwards.
	c := st.node("c")
	st.removeNode("c")
	st.nodes = []*structs.Node{st.node("a"), st.node("b")}
	d := st.schedule(t, j)
	require.Equal(t, map[string]int{"a": 1, "b": 1}, placedPerNode(d))
	st.commit(d.Plan, structs.AllocClientRunning, testNow.UnixNano())
	st.nodes = append(st.nodes, c)
	for _, a := range st.allocs {
		if a.NodeId == "a" {
			orig = a
		}
	}
	st.disconnectNode("a")
	d = st.schedule(t, j)
	require.Len(t, placements(d), 1)
	st.commit(d.Plan, structs.AllocClientRunning, testNow.UnixNano())
	repl = placements(d)[0]
	return st, j, st.byID(t, orig.Id), st.byID(t, repl.Id)
}

func TestUnknownAllocationsAreReplacedAndKept(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window bool
		// wantStop: the original is stopped by the plan
		wantStop bool
	}{
		{name: "group with a window: replaced, the original waits", window: true},
		{name: "group without a window: lost, replaced", window: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
			j := testJob("web", structs.JobTypeService, 1, 100, 100)
			if tc.window {
				j.TaskGroups[0].MaxClientDisconnect = durationpb.New(time.Minute)
			}
			st.upsertJob(j)
			st.commit(st.schedule(t, j).Plan, structs.AllocClientRunning, testNow.UnixNano())
			orig := st.allocs[0]
			st.disconnectNode(orig.NodeId)
			before := st.clone()

			d := st.schedule(t, j)
			requireStateUnchanged(t, before, st)
			require.False(t, d.Blocked())
			require.Empty(t, stops(d), "nothing is stopped: the original is unreachable")
			require.Len(t, placements(d), 1)
			repl := placements(d)[0]
			require.Equal(t, orig.Name, repl.Name)
			require.Equal(t, orig.Id, repl.PreviousAllocation)
			require.NotEqual(t, orig.NodeId, repl.NodeId)
			require.Nil(t, repl.RescheduleTracker, "a disconnection is not a failure")

			st.commit(d.Plan, structs.AllocClientRunning, testNow.UnixNano())
			want := structs.AllocClientLost
			if tc.window {
				want = structs.AllocClientUnknown
			}
			require.Equal(t, want, st.byID(t, orig.Id).ClientStatus)
			require.Nil(t, st.schedule(t, j).Plan, "once replaced, nothing more to do while the node is away")
		})
	}
}

func TestUnknownAllocationWithoutRoomBlocks(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
	st.allocs = append(st.allocs, otherAlloc("x", "b", 1000, 1000))
	j := windowJob(1)
	st.upsertJob(j)
	st.commit(st.schedule(t, j).Plan, structs.AllocClientRunning, testNow.UnixNano())
	orig := st.allocs[len(st.allocs)-1]
	require.Equal(t, "a", orig.NodeId)
	st.disconnectNode("a")

	d := st.schedule(t, j)
	require.True(t, d.Blocked())
	require.Equal(t, int32(1), d.QueuedAllocations["api"])
	require.Nil(t, d.Plan, "the original is neither stopped nor replaced")
}

func TestReconnectingAllocation(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare changes the scenario once node a is ready again.
		prepare func(st *fakeState, j *structs.Job, orig, repl *structs.Allocation) *structs.Job
		// keep is "orig" or "repl": which one runs afterwards.
		keep string
		// reconnected: the plan takes the original back.
		reconnected bool
		stopReason  string
		noPlan      bool
	}{
		{
			name:        "back before its client reported: the original wins",
			prepare:     func(*fakeState, *structs.Job, *structs.Allocation, *structs.Allocation) *structs.Job { return nil },
			keep:        "orig",
			reconnected: true,
			stopReason:  reasonReconnected,
		},
		{
			name: "its client already reported it running: the original wins",
			prepare: func(st *fakeState, _ *structs.Job, orig, _ *structs.Allocation) *structs.Job {
				st.setStatusOf(orig.Id, structs.AllocClientRunning)
				return nil
			},
			keep:        "orig",
			reconnected: true,
			stopReason:  reasonReconnected,
		},
		{
			name: "the replacement is still pending: the original wins",
			prepare: func(st *fakeState, _ *structs.Job, _, repl *structs.Allocation) *structs.Job {
				st.setStatusOf(repl.Id, structs.AllocClientPending)
				return nil
			},
			keep:        "orig",
			reconnected: true,
			stopReason:  reasonReconnected,
		},
		{
			name: "the original failed on its way back: the replacement stays",
			prepare: func(st *fakeState, _ *structs.Job, orig, _ *structs.Allocation) *structs.Job {
				st.setStatusOf(orig.Id, structs.AllocClientFailed)
				return nil
			},
			keep:   "repl",
			noPlan: true,
		},
		{
			name: "the job changed meanwhile and the replacement runs the new version: the replacement stays",
			prepare: func(st *fakeState, j *structs.Job, _, repl *structs.Allocation) *structs.Job {
				u := proto.Clone(j).(*structs.Job)
				u.JobModifyIndex = 20
				u.Meta = map[string]string{"v": "2"}
				st.upsertJob(u)
				for i, a := range st.allocs {
					if a.Id == repl.Id || a.NodeId == "b" {
						c := proto.Clone(a).(*structs.Allocation)
						c.Job = u
						st.allocs[i] = c
					}
				}
				return u
			},
			keep:       "repl",
			stopReason: reasonReconnectedOutdated,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, j, orig, repl := disconnectedScenario(t)
			require.Equal(t, structs.AllocClientUnknown, orig.ClientStatus)
			require.Equal(t, repl.Id, orig.NextAllocation)
			st.node("a").Status = structs.NodeStatusReady
			if u := tc.prepare(st, j, orig, repl); u != nil {
				j = u
			}
			before := st.clone()

			d := st.schedule(t, j)
			requireStateUnchanged(t, before, st)
			if tc.noPlan {
				require.Nil(t, d.Plan)
			} else {
				require.Empty(t, placements(d), "nothing new is placed")
				var stopped []string
				var back []*structs.Allocation
				for _, u := range stops(d) {
					if u.DesiredStatus == structs.AllocDesiredStop {
						stopped = append(stopped, u.Id)
						require.Equal(t, tc.stopReason, u.DesiredDescription)
					}
					if u.ReconnectedAt != 0 {
						back = append(back, u)
					}
				}
				loser := orig.Id
				if tc.keep == "orig" {
					loser = repl.Id
				}
				require.Equal(t, []string{loser}, stopped)
				if tc.reconnected {
					require.Len(t, back, 1)
					require.Equal(t, orig.Id, back[0].Id)
					require.Equal(t, testNow.UnixNano(), back[0].ReconnectedAt)
				} else {
					require.Empty(t, back)
				}
			}
			st.commit(d.Plan, structs.AllocClientRunning, testNow.UnixNano())
			keep := st.byID(t, repl.Id)
			if tc.keep == "orig" {
				keep = st.byID(t, orig.Id)
				require.Zero(t, keep.DisconnectedAt, "taken back")
				require.Empty(t, keep.NextAllocation, "it replaces nothing any more")
			}
			require.Equal(t, structs.AllocDesiredRun, keep.DesiredStatus)
			require.Nil(t, st.schedule(t, j).Plan, "the outcome is stable")
		})
	}
}

func TestReconnectStopsEveryLiveReplacementInTheChain(t *testing.T) {
	st, j, orig, repl := disconnectedScenario(t)
	// The replacement failed and was replaced in turn, on c.
	st.setStatusOf(repl.Id, structs.AllocClientFailed)
	second := &structs.Allocation{
		Id: "second", Namespace: repl.Namespace, Name: repl.Name, NodeId: "c", JobId: repl.JobId, Job: j,
		TaskGroup: repl.TaskGroup, TaskResources: repl.TaskResources, DesiredStatus: structs.AllocDesiredRun,
		ClientStatus: structs.AllocClientRunning, PreviousAllocation: repl.Id,
	}
	failed := proto.Clone(st.byID(t, repl.Id)).(*structs.Allocation)
	failed.NextAllocation = second.Id
	for i, a := range st.allocs {
		if a.Id == repl.Id {
			st.allocs[i] = failed
		}
	}
	st.allocs = append(st.allocs, second)
	st.node("a").Status = structs.NodeStatusReady

	d := st.schedule(t, j)
	var stopped []string
	for _, u := range stops(d) {
		if u.DesiredStatus == structs.AllocDesiredStop {
			stopped = append(stopped, u.Id)
		}
	}
	require.Equal(t, []string{"second"}, stopped, "the failed one needs no stop; the running one goes")
	require.Empty(t, placements(d))
	st.commit(d.Plan, structs.AllocClientRunning, testNow.UnixNano())
	require.Equal(t, structs.AllocDesiredRun, st.byID(t, orig.Id).DesiredStatus)
	require.Nil(t, st.schedule(t, j).Plan)
}

func TestDisconnectedNodeStillAwayKeepsEverything(t *testing.T) {
	st, j, orig, _ := disconnectedScenario(t)
	// Still away; also not ready for other reasons, the original waits.
	for _, status := range []string{structs.NodeStatusDisconnected, structs.NodeStatusInit} {
		st.node("a").Status = status
		require.Nil(t, st.schedule(t, j).Plan, "status %s", status)
	}
	require.Equal(t, structs.AllocClientUnknown, st.byID(t, orig.Id).ClientStatus)
}

func TestSystemJobOnDisconnectedNode(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
	j := testJob("agent", structs.JobTypeSystem, 1, 100, 100)
	j.TaskGroups[0].MaxClientDisconnect = durationpb.New(time.Minute)
	st.upsertJob(j)
	st.commit(st.schedule(t, j).Plan, structs.AllocClientRunning, testNow.UnixNano())
	require.Len(t, st.allocs, 2)
	var orig *structs.Allocation
	for _, a := range st.allocs {
		if a.NodeId == "a" {
			orig = a
		}
	}
	st.disconnectNode("a")

	require.Nil(t, st.schedule(t, j).Plan, "nothing is placed, stopped or updated while a is away")
	u := proto.Clone(j).(*structs.Job)
	u.JobModifyIndex, u.Meta = 20, map[string]string{"v": "2"}
	st.upsertJob(u)
	d := st.schedule(t, u)
	for _, a := range placements(d) {
		require.Equal(t, "b", a.NodeId, "no update reaches the disconnected node")
	}
	st.commit(d.Plan, structs.AllocClientRunning, testNow.UnixNano())

	st.node("a").Status = structs.NodeStatusReady
	d = st.schedule(t, u)
	var back []string
	for _, x := range stops(d) {
		require.NotEqual(t, structs.AllocDesiredStop, x.DesiredStatus)
		if x.ReconnectedAt != 0 {
			back = append(back, x.Id)
		}
	}
	require.Equal(t, []string{orig.Id}, back)
	require.Len(t, placements(d), 1, "the outdated original is updated in place")
	require.Equal(t, orig.Id, placements(d)[0].Id)
	require.Zero(t, placements(d)[0].DisconnectedAt)
	st.commit(d.Plan, structs.AllocClientRunning, testNow.UnixNano())
	require.Nil(t, st.schedule(t, u).Plan)
}

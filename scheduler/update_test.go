package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

func TestInPlaceOrDestructiveUpdate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		change      func(j *structs.Job)
		destructive bool
	}{
		{"task meta", func(j *structs.Job) { j.TaskGroups[0].Tasks[0].Meta = map[string]string{"v": "2"} }, false},
		{"group meta", func(j *structs.Job) { j.TaskGroups[0].Meta = map[string]string{"v": "2"} }, false},
		{"job meta", func(j *structs.Job) { j.Meta = map[string]string{"v": "2"} }, false},
		{"count", func(j *structs.Job) { j.TaskGroups[0].Count = 3 }, false},
		{"restart policy", func(j *structs.Job) { j.TaskGroups[0].RestartPolicy.Attempts = 9 }, false},
		{"kill timeout", func(j *structs.Job) { j.TaskGroups[0].Tasks[0].KillTimeout = durationpb.New(time.Minute) }, false},
		{"constraint still met", func(j *structs.Job) {
			j.Constraints = []*structs.Constraint{{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"}}
		}, false},
		{"constraint no longer met", func(j *structs.Job) {
			j.Constraints = []*structs.Constraint{{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "windows"}}
		}, true},
		{"resources", func(j *structs.Job) { j.TaskGroups[0].Tasks[0].Resources.CpuMhz = 200 }, true},
		{"env", func(j *structs.Job) { j.TaskGroups[0].Tasks[0].Env = map[string]string{"A": "b"} }, true},
		{"driver", func(j *structs.Job) { j.TaskGroups[0].Tasks[0].Driver = "exec" }, true},
		{"ports", func(j *structs.Job) { withPorts(j, &structs.Port{Label: "http"}) }, true},
		{"a new task", func(j *structs.Job) {
			j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, &structs.Task{Name: "side", Driver: "mock", Resources: &structs.Resources{CpuMhz: 10, MemoryMb: 10}})
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNode("a", 4000, 4000)
			n.Drivers["exec"] = &structs.DriverInfo{Detected: true, Healthy: true}
			st := newState(n, testNode("b", 4000, 4000))
			j := testJob("web", structs.JobTypeService, 2, 100, 100)
			st.upsertJob(j)
			st.apply(st.schedule(t, j))
			before := st.clone()

			u := proto.Clone(j).(*structs.Job)
			tc.change(u)
			u.JobModifyIndex = j.JobModifyIndex + 1
			st.upsertJob(u)
			d := st.schedule(t, u)
			requireStateUnchanged(t, before, st)
			var updated, fresh int
			for _, a := range placements(d) {
				require.Same(t, u, a.Job)
				if before.allocByID(a.Id) != nil {
					updated++
					require.Equal(t, before.allocByID(a.Id).NodeId, a.NodeId, "an in-place update stays on its node")
				} else {
					fresh++
				}
			}
			if tc.name == "constraint no longer met" {
				// No node takes the new version: the old keeps running, blocked.
				require.Equal(t, 0, updated)
				require.Empty(t, stops(d))
				require.True(t, d.Blocked())
				return
			}
			if tc.destructive {
				require.Equal(t, 0, updated)
				require.Len(t, stops(d), 2, "the old version is stopped")
				require.Equal(t, 2, fresh)
				for _, s := range stops(d) {
					require.Equal(t, "alloc is being updated due to job update", s.DesiredDescription)
				}
				return
			}
			require.Equal(t, 2, updated, "both allocations updated in place")
			require.Empty(t, stops(d))
			require.Equal(t, int(u.TaskGroups[0].Count)-2, fresh)
		})
	}
}

func (s *fakeState) allocByID(id string) *structs.Allocation {
	for _, a := range s.allocs {
		if a.Id == id {
			return a
		}
	}
	return nil
}

func failedAt(t *testing.T, st *fakeState, name string, at time.Time) *structs.Allocation {
	a := st.setClientStatus(t, name, structs.AllocClientFailed)
	a.TaskStates = map[string]*structs.TaskState{"srv": {State: structs.TaskStateDead, Failed: true, FinishedAt: at.UnixNano()}}
	return a
}

func TestReschedulePolicy(t *testing.T) {
	policy := func(attempts int32, delay time.Duration, unlimited bool) *structs.ReschedulePolicy {
		return &structs.ReschedulePolicy{
			Attempts: attempts, Interval: durationpb.New(time.Hour), Delay: durationpb.New(delay),
			DelayFunction: "constant", Unlimited: unlimited,
		}
	}
	for _, tc := range []struct {
		name     string
		policy   *structs.ReschedulePolicy
		failedAt time.Time
		history  int // reschedulings already done within the interval
		want     string
	}{
		{"delay passed", policy(2, 10*time.Second, false), testNow.Add(-time.Minute), 0, "now"},
		{"delay to come", policy(2, 10*time.Second, false), testNow.Add(-time.Second), 0, "later"},
		{"attempts used up", policy(2, 10*time.Second, false), testNow.Add(-time.Minute), 2, "never"},
		{"unlimited", policy(0, 10*time.Second, true), testNow.Add(-time.Minute), 5, "now"},
		{"no attempts", policy(0, 0, false), testNow.Add(-time.Minute), 0, "never"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
			j := testJob("web", structs.JobTypeService, 1, 100, 100)
			j.TaskGroups[0].ReschedulePolicy = tc.policy
			st.upsertJob(j)
			st.apply(st.schedule(t, j))
			failed := failedAt(t, st, "web.api[0]", tc.failedAt)
			for i := 0; i < tc.history; i++ {
				if failed.RescheduleTracker == nil {
					failed.RescheduleTracker = &structs.RescheduleTracker{}
				}
				failed.RescheduleTracker.Events = append(failed.RescheduleTracker.Events,
					&structs.RescheduleEvent{RescheduleTime: testNow.Add(-time.Minute).UnixNano(), DelayNs: int64(time.Second)})
			}
			d := st.schedule(t, j)
			switch tc.want {
			case "now":
				require.Len(t, placements(d), 1)
				r := placements(d)[0]
				require.Equal(t, failed.Id, r.PreviousAllocation)
				require.Equal(t, "web.api[0]", r.Name)
				require.NotEqual(t, failed.NodeId, r.NodeId, "the node it failed on is avoided")
				require.Len(t, r.RescheduleTracker.Events, tc.history+1)
				require.Empty(t, d.FollowupEvals)
			case "later":
				require.Empty(t, placements(d))
				require.Len(t, d.FollowupEvals, 1)
				f := d.FollowupEvals[0]
				require.Equal(t, tc.failedAt.Add(10*time.Second).UnixNano(), f.WaitUntil)
				require.Equal(t, structs.EvalStatusPending, f.Status)
				require.Len(t, stops(d), 1, "the failed allocation is annotated with its follow-up")
				require.Equal(t, f.Id, stops(d)[0].FollowupEvalId)
				require.Empty(t, stops(d)[0].DesiredStatus, "an annotation, not a stop")
			case "never":
				require.Nil(t, d.Plan)
				require.Empty(t, d.FollowupEvals)
			}
		})
	}
}

func TestExponentialRescheduleDelay(t *testing.T) {
	p := &structs.ReschedulePolicy{Unlimited: true, Delay: durationpb.New(time.Second), DelayFunction: "exponential", MaxDelay: durationpb.New(5 * time.Second)}
	var events []*structs.RescheduleEvent
	var got []time.Duration
	for i := 0; i < 5; i++ {
		d := nextDelay(p, events)
		got = append(got, d)
		events = append(events, &structs.RescheduleEvent{DelayNs: int64(d)})
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, got)
	p.DelayFunction = "fibonacci"
	events, got = nil, nil
	for i := 0; i < 6; i++ {
		d := nextDelay(p, events)
		got = append(got, d)
		events = append(events, &structs.RescheduleEvent{DelayNs: int64(d)})
	}
	require.Equal(t, []time.Duration{time.Second, time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second, 5 * time.Second}, got)
}

func TestDrainMigratesInTheSamePlan(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 2, 100, 100)
	j.Constraints = []*structs.Constraint{{Operand: structs.ConstraintDistinctHosts}}
	st.upsertJob(j)
	st.apply(st.schedule(t, j))
	st.node("a").DrainStrategy = &structs.DrainStrategy{}
	var onA *structs.Allocation
	for _, a := range st.allocs {
		if a.NodeId == "a" {
			a.DesiredTransition = &structs.DesiredTransition{Migrate: true}
			onA = a
		}
	}
	st.nodes = append(st.nodes, testNode("c", 1000, 1000))

	d := st.schedule(t, j)
	require.Len(t, placements(d), 1)
	require.Equal(t, "c", placements(d)[0].NodeId)
	require.Equal(t, onA.Id, placements(d)[0].PreviousAllocation)
	require.Equal(t, onA.Name, placements(d)[0].Name)
	require.Len(t, stops(d), 1, "the old one is stopped in the plan that places its replacement")
	require.Equal(t, onA.Id, stops(d)[0].Id)

	t.Run("no room elsewhere keeps the old one running", func(t *testing.T) {
		st.removeNode("c")
		d := st.schedule(t, j)
		require.Nil(t, d.Plan, "never stop first and place later")
		require.True(t, d.Blocked())
	})
}

func TestSystemJobOnADrainingNode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ignore  bool
		migrate bool
		stopped bool
	}{
		{"kept until the drainer asks", false, false, false},
		{"stopped when marked to migrate", false, true, true},
		{"kept when the drain ignores system jobs", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
			j := testJob("agent", structs.JobTypeSystem, 1, 100, 100)
			st.upsertJob(j)
			st.apply(st.schedule(t, j))
			st.node("a").DrainStrategy = &structs.DrainStrategy{IgnoreSystemJobs: tc.ignore}
			for _, a := range st.allocs {
				if a.NodeId == "a" && tc.migrate {
					a.DesiredTransition = &structs.DesiredTransition{Migrate: true}
				}
			}
			d := st.schedule(t, j)
			require.Empty(t, placements(d))
			require.Equal(t, tc.stopped, len(stops(d)) == 1)
		})
	}
}

func TestMemoryOversubscription(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		st := newState(testNode("a", 1000, 1000))
		j := testJob("web", structs.JobTypeService, 1, 100, 100)
		j.TaskGroups[0].Tasks[0].Resources.MemoryMaxMb = 800
		st.upsertJob(j)
		d := st.scheduleWith(t, j, &structs.SchedulerConfiguration{SchedulerAlgorithm: AlgorithmBinpack, MemoryOversubscriptionEnabled: enabled})
		r := placements(d)[0].TaskResources["srv"]
		require.Equal(t, int64(100), r.MemoryMb, "placement reserves memory_mb")
		if enabled {
			require.Equal(t, int64(800), r.MemoryMaxMb)
		} else {
			require.Zero(t, r.MemoryMaxMb, "the limit is dropped when oversubscription is off")
		}
	}
}

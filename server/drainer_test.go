package server

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

func TestPlanDrain(t *testing.T) {
	jobs := map[string]*structs.Job{}
	for _, typ := range []string{"service", "batch", "system"} {
		jobs[typ] = &structs.Job{Id: typ, Namespace: "default", Type: typ}
	}
	alloc := func(id, typ string, migrate bool, desired, client string) *structs.Allocation {
		a := &structs.Allocation{Id: id, Namespace: "default", JobId: typ, Job: jobs[typ], NodeId: "n",
			DesiredStatus: desired, ClientStatus: client}
		if migrate {
			a.DesiredTransition = &structs.DesiredTransition{Migrate: true}
		}
		return a
	}
	run, stop := structs.AllocDesiredRun, structs.AllocDesiredStop
	for _, tc := range []struct {
		name         string
		allocs       []*structs.Allocation
		past, ignore bool
		marks        []string
		complete     bool
	}{
		{name: "service at once, batch and system wait",
			allocs: []*structs.Allocation{alloc("s", "service", false, run, "running"), alloc("b", "batch", false, run, "running"),
				alloc("y", "system", false, run, "running")},
			marks: []string{"s"}},
		{name: "marked allocations are not marked again",
			allocs: []*structs.Allocation{alloc("s", "service", true, run, "running"), alloc("y", "system", false, run, "running")}},
		{name: "system last, once nothing else is left",
			allocs: []*structs.Allocation{alloc("s", "service", true, stop, "complete"), alloc("y", "system", false, run, "running")},
			marks:  []string{"y"}},
		{name: "past the deadline everything goes",
			allocs: []*structs.Allocation{alloc("s", "service", false, run, "running"), alloc("b", "batch", false, run, "pending"),
				alloc("y", "system", false, run, "running")},
			past: true, marks: []string{"s", "b", "y"}},
		{name: "ignored system jobs stay and do not hold the drain",
			allocs: []*structs.Allocation{alloc("s", "service", true, stop, "running"), alloc("y", "system", false, run, "running")},
			ignore: true, complete: true},
		{name: "complete when everything is terminal",
			allocs:   []*structs.Allocation{alloc("s", "service", true, stop, "running"), alloc("b", "batch", false, run, "complete")},
			complete: true},
		{name: "an empty node is drained", complete: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := state.NewStore()
			tx := st.Begin()
			node := &structs.Node{Id: "n", DrainStrategy: &structs.DrainStrategy{Deadline: durationpb.New(0), IgnoreSystemJobs: tc.ignore}}
			tx.UpsertNode(node)
			for _, j := range jobs {
				tx.UpsertJob(j)
			}
			for _, a := range tc.allocs {
				tx.UpsertAlloc(a)
			}
			tx.Commit(1)
			w := planDrain(st.Snapshot(), node, tc.past)
			var marked []string
			for id, tr := range w.marks {
				require.True(t, tr.Migrate)
				marked = append(marked, id)
			}
			require.ElementsMatch(t, tc.marks, marked)
			require.Equal(t, tc.complete, w.complete)
			require.Len(t, w.jobs, len(tc.marks), "one evaluation per job marked")
		})
	}
}

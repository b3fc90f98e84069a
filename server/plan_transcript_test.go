package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// TestPlanApplierTranscripts submits plans to the plan applier over a
// state built by the transcript, committed through the FSM, and prints
// what it accepted, what it refused, and the nodes the rejection tracker
// marked ineligible (three refusals within a minute, on a fake clock).
//
//	node id=n1 cpu=1000 mem=1000 [status=down] [ineligible] [draining]
//	alloc id=a1 node=n1 cpu=500 mem=500 [job=j]      an allocation running there
//	plan                                             the input lists the plan:
//	  place p1 node=n1 cpu=500 mem=500 [previous=a1]
//	  stop a1
//	  preempt a1
//	advance 30s
//	state
func TestPlanApplierTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/plan", func(t *testing.T, path string) {
		w := newPlanWorld()
		datadriven.RunTest(t, path, w.run)
	})
}

type planWorld struct {
	clock   *clock.Fake
	st      *state.Store
	raft    *fsmProposer
	applier *planApplier
	allocs  map[string]*structs.Allocation
}

func newPlanWorld() *planWorld {
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := state.NewStore()
	p := &fsmProposer{f: &fsm{state: st}, clock: c.Now}
	counter := func() prometheus.Counter { return prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}) }
	return &planWorld{
		clock: c, st: st, raft: p, allocs: map[string]*structs.Allocation{},
		applier: &planApplier{
			raft: p, state: st, applied: counter(), rejected: counter(), nodesRejected: counter(), placed: counter(),
			rejections: newRejectionTracker(3, time.Minute, c.Now), logger: slog.New(slog.DiscardHandler),
		},
	}
}

// planArgs reads key=value words into a map.
func planArgs(words []string) map[string]string {
	m := map[string]string{}
	for _, w := range words {
		k, v, _ := strings.Cut(w, "=")
		m[k] = v
	}
	return m
}

func (w *planWorld) alloc(t *testing.T, id string, a map[string]string) *structs.Allocation {
	var cpu, mem int64
	fmt.Sscan(a["cpu"], &cpu)
	fmt.Sscan(a["mem"], &mem)
	job := a["job"]
	if job == "" {
		job = "j"
	}
	return &structs.Allocation{
		Id: id, Namespace: "default", JobId: job, NodeId: a["node"], TaskGroup: "g",
		DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientPending,
		PreviousAllocation: a["previous"],
		TaskResources:      map[string]*structs.Resources{"t": {CpuMhz: cpu, MemoryMb: mem}},
	}
}

func (w *planWorld) run(t *testing.T, d *datadriven.TestData) string {
	words := make([]string, 0, len(d.CmdArgs))
	for _, a := range d.CmdArgs {
		words = append(words, a.String())
	}
	args := planArgs(words)
	ctx := context.Background()
	switch d.Cmd {
	case "node":
		var cpu, mem int64
		fmt.Sscan(args["cpu"], &cpu)
		fmt.Sscan(args["mem"], &mem)
		n := &structs.Node{Id: args["id"], Name: args["id"], Datacenter: "dc1", Status: structs.NodeStatusReady,
			SchedulingEligibility: structs.NodeEligible, Resources: &structs.Resources{CpuMhz: cpu, MemoryMb: mem}}
		if s, ok := args["status"]; ok {
			n.Status = s
		}
		if _, ok := args["ineligible"]; ok {
			n.SchedulingEligibility = structs.NodeIneligible
		}
		if _, ok := args["draining"]; ok {
			n.DrainStrategy = &structs.DrainStrategy{}
		}
		if _, err := w.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_NodeUpsert{NodeUpsert: &structs.NodeUpsert{Node: n}}}); err != nil {
			t.Fatal(err)
		}
		return ""
	case "alloc":
		a := w.alloc(t, args["id"], args)
		a.ClientStatus = structs.AllocClientRunning
		w.allocs[a.Id] = a
		if _, err := w.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_PlanApply{PlanApply: &structs.PlanApply{
			Result: &structs.PlanResult{NodeAllocation: []*structs.Allocation{a}}}}}); err != nil {
			t.Fatal(err)
		}
		return ""
	case "plan":
		plan := &structs.Plan{}
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				t.Fatalf("bad plan line %q", line)
			}
			switch f[0] {
			case "place":
				plan.NodeAllocation = append(plan.NodeAllocation, w.alloc(t, f[1], planArgs(f[2:])))
			case "stop", "preempt":
				cur := w.allocs[f[1]]
				if cur == nil {
					t.Fatalf("no allocation %s", f[1])
				}
				a := state.CloneAlloc(cur)
				if f[0] == "stop" {
					a.DesiredStatus = structs.AllocDesiredStop
					plan.NodeUpdate = append(plan.NodeUpdate, a)
				} else {
					a.DesiredStatus = structs.AllocDesiredEvict
					plan.NodePreemptions = append(plan.NodePreemptions, a)
				}
			default:
				t.Fatalf("bad plan line %q", line)
			}
		}
		res, err := w.applier.apply(ctx, plan)
		if err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		var b strings.Builder
		ids := func(as []*structs.Allocation) []string {
			out := make([]string, 0, len(as))
			for _, a := range as {
				out = append(out, a.Id)
			}
			return out
		}
		fmt.Fprintf(&b, "placed %v\nstopped %v\npreempted %v\nrefused nodes %v\n",
			ids(res.NodeAllocation), ids(res.NodeUpdate), ids(res.NodePreemptions), res.RefusedNodes)
		for _, a := range res.NodeAllocation {
			w.allocs[a.Id] = a
		}
		return b.String()
	case "advance":
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(dur)
		return ""
	case "state":
		snap := w.st.Snapshot()
		var lines []string
		for _, n := range snap.Nodes() {
			lines = append(lines, fmt.Sprintf("node %s: %s, %s", n.Id, n.Status, n.SchedulingEligibility))
		}
		for _, a := range snap.Allocs() {
			lines = append(lines, fmt.Sprintf("alloc %s on %s: %s", a.Id, a.NodeId, a.DesiredStatus))
		}
		slices.Sort(lines)
		return strings.Join(lines, "\n") + "\n"
	}
	t.Fatalf("unknown command %q", d.Cmd)
	return ""
}

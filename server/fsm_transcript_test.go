package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// TestFSMTranscripts applies raft commands to a state store through the
// FSM, as every server does, and prints what the leader's services hear
// and what the state holds.
//
//	apply [time=N]        the input is a LogCommand in protobuf JSON; it is
//	                      applied at the next index, at time N (unix nanos)
//	state                 the jobs, nodes, allocations and evaluations held
func TestFSMTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/fsm", func(t *testing.T, path string) {
		rec := &transcriptListener{}
		f := &fsm{state: state.NewStore(), listener: rec}
		var index uint64
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "apply":
				cmd := &structs.LogCommand{}
				if err := protojson.Unmarshal([]byte(d.Input), cmd); err != nil {
					t.Fatalf("%s: %v", d.Pos, err)
				}
				if d.HasArg("time") {
					d.ScanArgs(t, "time", &cmd.Time)
				}
				index++
				rec.reset()
				err := f.Apply(index, cmd)
				var b strings.Builder
				fmt.Fprintf(&b, "index %d\n", index)
				if err != nil {
					fmt.Fprintf(&b, "error: %v\n", err)
				}
				b.WriteString(rec.String())
				return b.String()
			case "state":
				return dumpState(f.state.Snapshot())
			}
			t.Fatalf("unknown command %q", d.Cmd)
			return ""
		})
	})
}

// transcriptListener writes down what the FSM tells the leader's services.
type transcriptListener struct{ lines []string }

func (r *transcriptListener) reset() { r.lines = nil }

func (r *transcriptListener) String() string {
	if len(r.lines) == 0 {
		return ""
	}
	return strings.Join(r.lines, "\n") + "\n"
}

func (r *transcriptListener) evalsApplied(evals []*structs.Evaluation) {
	for _, e := range evals {
		r.lines = append(r.lines, fmt.Sprintf("eval %s: job=%s type=%s triggered_by=%s status=%s", e.Id, e.JobId, e.Type, e.TriggeredBy, e.Status))
	}
}

func (r *transcriptListener) capacityChanged(index uint64, classes map[string]bool) {
	names := make([]string, 0, len(classes))
	for c := range classes {
		if c == "" {
			c = `""`
		}
		names = append(names, c)
	}
	slices.Sort(names)
	r.lines = append(r.lines, fmt.Sprintf("capacity changed at %d: classes %v", index, names))
}

func (r *transcriptListener) schedulerConfigChanged(c *structs.SchedulerConfiguration) {
	r.lines = append(r.lines, fmt.Sprintf("scheduler config: algorithm=%s", c.GetSchedulerAlgorithm()))
}

func (r *transcriptListener) eventsAt(objectReader, uint64, *structs.LogCommand) []events.Event {
	return nil
}

func (r *transcriptListener) entryApplied(uint64, *structs.LogCommand, []events.Event) {}

func (r *transcriptListener) stateRestored(index uint64) {
	r.lines = append(r.lines, fmt.Sprintf("state restored at %d", index))
}

// dumpState prints the state's main tables, one object a line, sorted.
func dumpState(snap *state.Snapshot) string {
	var lines []string
	for _, j := range snap.Jobs("", "") {
		lines = append(lines, fmt.Sprintf("job %s: type=%s version=%d status=%s stop=%t modify=%d", j.Id, j.Type, j.Version, j.Status, j.Stop, j.ModifyIndex))
	}
	for _, n := range snap.Nodes() {
		lines = append(lines, fmt.Sprintf("node %s: status=%s eligibility=%s class=%q", n.Id, n.Status, n.SchedulingEligibility, n.NodeClass))
	}
	for _, a := range snap.Allocs() {
		lines = append(lines, fmt.Sprintf("alloc %s: job=%s node=%s desired=%s client=%s", a.Id, a.JobId, a.NodeId, a.DesiredStatus, a.ClientStatus))
	}
	for _, e := range snap.Evals() {
		lines = append(lines, fmt.Sprintf("eval %s: job=%s status=%s triggered_by=%s", e.Id, e.JobId, e.Status, e.TriggeredBy))
	}
	slices.Sort(lines)
	lines = append(lines, fmt.Sprintf("index %d", snap.Index()))
	return strings.Join(lines, "\n") + "\n"
}

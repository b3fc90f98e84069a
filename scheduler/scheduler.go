// Package scheduler decides where allocations run. It is pure: a scheduler
// reads a state snapshot and an evaluation and returns a plan; it starts no
// goroutines, does no I/O and is given the time, so it is tested without a
// cluster.
//
// The built-in schedulers serve the four job types: service and batch keep
// count allocations of each group (generic.go), system and sysbatch one per
// eligible node (system.go). Placement visits a bounded, randomly ordered
// set of feasible nodes per allocation (select.go), so its cost does not
// grow with the cluster; feasibility is checked once per node class and
// per node within a pass (feasible.go); ranking combines bin-packing or
// spread, job anti-affinity, the reschedule penalty, affinities and spread
// targets, all kept incrementally (the node scores in select.go, affinity
// and spread scores in spread.go); ports (ports.go) and preemption
// (preempt.go) are part of the fit.
package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/droverhq/drover/structs"
)

// State is the read-only view of the cluster a scheduler works from. A
// state store snapshot implements it.
type State interface {
	// Index is the raft index the view reflects.
	Index() uint64
	Job(namespace, id string) *structs.Job
	// Nodes lists every node.
	Nodes() []*structs.Node
	Node(id string) *structs.Node
	AllocsByJob(namespace, id string) []*structs.Allocation
	AllocsByNode(nodeID string) []*structs.Allocation
}

// Input is everything one scheduling pass needs besides the state.
type Input struct {
	Eval *structs.Evaluation
	// Now is the time recorded on new allocations and compared with
	// reschedule delays.
	Now time.Time
	// NewID returns a fresh unique id for each new allocation or evaluation.
	NewID func() string
	// Config is the cluster's scheduler configuration; nil means the
	// defaults (bin-packing, preemption for system and sysbatch jobs).
	Config *structs.SchedulerConfiguration
	// Interrupt, when set, is asked as the pass goes (at its first step and
	// then every InterruptEvery steps: allocation names built, placements
	// tried); once it returns true the built-in schedulers stop and return
	// ErrInterrupted and no decision. It must be cheap and not block; a
	// host's scheduler may use it too.
	Interrupt func() bool
}

// InterruptEvery is how many steps of a pass go between two calls of
// Input.Interrupt.
const InterruptEvery = 64

// ErrInterrupted is what Schedule returns when Input.Interrupt stopped the
// pass: nothing it decided is kept.
var ErrInterrupted = errors.New("scheduler: pass interrupted")

// Decision is what a scheduler decided for one evaluation.
type Decision struct {
	// Plan holds the placements, updates, stops and preemptions; nil when
	// nothing changes.
	Plan *structs.Plan
	// FailedTGAllocs explains, per task group, why some placements failed.
	FailedTGAllocs map[string]*structs.AllocMetric
	// QueuedAllocations counts, per task group, the placements still wanted.
	QueuedAllocations map[string]int32
	// FollowupEvals are delayed evaluations (wait_until set) that will
	// reschedule failed allocations once their delay has passed.
	FollowupEvals []*structs.Evaluation
	// ClassEligibility records, per computed node class seen, whether a
	// node of that class could run the job; blocked evaluations wake only
	// for classes that are eligible or unknown.
	ClassEligibility map[string]bool
	// EscapedComputedClass: the job's constraints look at node-unique
	// values, so ClassEligibility does not decide for a whole class.
	EscapedComputedClass bool
}

// Blocked reports whether some placements could not be made, so the
// evaluation should wait for the cluster to change.
func (d *Decision) Blocked() bool { return len(d.FailedTGAllocs) > 0 }

// String describes a decision for logs.
func (d *Decision) String() string {
	if d.Plan == nil {
		return fmt.Sprintf("no changes, failed groups %d", len(d.FailedTGAllocs))
	}
	return fmt.Sprintf("place %d, stop %d, preempt %d, failed groups %d", len(d.Plan.NodeAllocation),
		len(d.Plan.NodeUpdate), len(d.Plan.NodePreemptions), len(d.FailedTGAllocs))
}

// Scheduler makes decisions for evaluations of the job types it serves.
// Schedule must not modify the state's objects.
type Scheduler interface {
	Schedule(st State, in Input) (*Decision, error)
}

// Factory makes the scheduler for one evaluation. A host registers one per
// custom job type (drover.ServerOptions.Schedulers).
type Factory func() Scheduler

// Builtin returns the built-in scheduler for a job type.
func Builtin(jobType string) (Scheduler, error) {
	switch jobType {
	case structs.JobTypeService, structs.JobTypeBatch:
		return genericScheduler{}, nil
	case structs.JobTypeSystem, structs.JobTypeSysBatch:
		return systemScheduler{}, nil
	}
	return nil, fmt.Errorf("scheduler: no scheduler for job type %q", jobType)
}

// IsBuiltin reports whether jobType is served by a built-in scheduler.
func IsBuiltin(jobType string) bool {
	_, err := Builtin(jobType)
	return err == nil
}

// Scheduler algorithms of the configuration.
const (
	AlgorithmBinpack = "binpack"
	AlgorithmSpread  = "spread"
)

// DefaultConfig is the configuration used when Input.Config is nil:
// bin-packing, preemption for the system and sysbatch schedulers.
func DefaultConfig() *structs.SchedulerConfiguration {
	return &structs.SchedulerConfiguration{
		SchedulerAlgorithm: AlgorithmBinpack,
		PreemptionConfig:   &structs.PreemptionConfig{SystemSchedulerEnabled: true, SysbatchSchedulerEnabled: true},
	}
}

// preemptionEnabled reports whether cfg lets jobType's scheduler preempt.
func preemptionEnabled(cfg *structs.SchedulerConfiguration, jobType string) bool {
	p := cfg.GetPreemptionConfig()
	switch jobType {
	case structs.JobTypeService:
		return p.GetServiceSchedulerEnabled()
	case structs.JobTypeBatch:
		return p.GetBatchSchedulerEnabled()
	case structs.JobTypeSystem:
		return p.GetSystemSchedulerEnabled()
	case structs.JobTypeSysBatch:
		return p.GetSysbatchSchedulerEnabled()
	}
	return false
}

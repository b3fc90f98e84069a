package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// maxPlanAttempts bounds how often in a row a worker refreshes and retries
// a plan that the applier refused without placing any of it.
const maxPlanAttempts = 5

// worker takes evaluations from the broker, runs the job type's scheduler on
// a fresh snapshot, submits the plan, and records the evaluation's outcome.
// Its backend is the leader's broker, plan applier and raft: in process on
// the leader, over RPC from any other server.
type worker struct {
	backend    schedBackend
	state      *state.Store
	types      map[string]bool
	schedulers func(jobType string) (scheduler.Scheduler, error)
	// core runs the server's own maintenance evaluations (type _core).
	core   func(ctx context.Context, eval *structs.Evaluation) error
	now    func() time.Time
	logger *slog.Logger
	// observe, when set, records how long each evaluation took.
	observe func(evalType string, d time.Duration)
	// waitIndex, when set, is an index the state must reach before the
	// evaluation in hand is scheduled, beyond the evaluation's own.
	waitIndex func() uint64
	// syncWait bounds the wait for the state to reach an index; zero
	// means 5s (on the leader it is there at once or nearly).
	syncWait time.Duration
	// role labels the observations: "leader" for the leader's own workers,
	// "follower" for those of the other servers.
	role string
	// stop is done once the server shuts down: it interrupts a pass at
	// once, before leadership is given up.
	stop context.Context
}

// run processes evaluations until ctx is done (on the leader, where the
// broker is local: until leadership is lost).
func (w *worker) run(ctx context.Context) {
	for {
		eval, token, err := w.backend.dequeue(ctx, w.types)
		if err != nil {
			return
		}
		w.handle(ctx, eval, token)
	}
}

// handle processes one evaluation and acks or nacks it.
func (w *worker) handle(ctx context.Context, eval *structs.Evaluation, token string) {
	start := w.now()
	err := w.process(ctx, eval, token)
	if w.observe != nil {
		w.observe(eval.Type, w.now().Sub(start))
	}
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, scheduler.ErrInterrupted) {
			w.logger.Warn("evaluation failed, will retry", "eval", eval.Id, "job", eval.JobId, "error", err)
		}
		if err := w.backend.nack(ctx, eval.Id, token); err != nil && ctx.Err() == nil {
			w.logger.Debug("nack not taken; the leader redelivers the evaluation", "eval", eval.Id, "error", err)
		}
		return
	}
	if err := w.backend.ack(ctx, eval.Id, token); err != nil && ctx.Err() == nil {
		w.logger.Debug("ack not taken; the leader redelivers the evaluation", "eval", eval.Id, "error", err)
	}
}

// snapshotAt returns a snapshot at least as new as index.
func (w *worker) snapshotAt(ctx context.Context, index uint64) (*state.Snapshot, error) {
	if w.state.Index() < index {
		wait := w.syncWait
		if wait <= 0 {
			wait = 5 * time.Second
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		w.state.WaitForIndex(wctx, index-1)
	}
	snap := w.state.Snapshot()
	if snap.Index() < index {
		return nil, fmt.Errorf("state at index %d, evaluation needs %d", snap.Index(), index)
	}
	return snap, nil
}

func (w *worker) process(ctx context.Context, eval *structs.Evaluation, token string) error {
	if eval.Type == coreEvalType {
		if w.core == nil {
			return errors.New("core evaluations run on the leader's own workers only")
		}
		return w.core(ctx, eval)
	}
	sched, err := w.schedulers(eval.Type)
	if err != nil {
		return w.finish(ctx, eval, token, nil, 0, structs.EvalStatusFailed, err.Error())
	}
	index := eval.ModifyIndex
	if w.waitIndex != nil {
		index = max(index, w.waitIndex())
	}
	snap, err := w.snapshotAt(ctx, index)
	if err != nil {
		return err
	}
	var decision *scheduler.Decision
	for attempt := 1; ; attempt++ {
		decision, err = runScheduler(sched, snap, scheduler.Input{
			Eval: eval, Now: w.now(), NewID: newUUID, Config: snap.SchedulerConfig(),
			Interrupt: w.interrupt(ctx, snap, eval),
		})
		if errors.Is(err, scheduler.ErrInterrupted) {
			if ctx.Err() != nil || w.stop != nil && w.stop.Err() != nil {
				return err // handed back to the broker
			}
			return w.finish(ctx, eval, token, nil, snap.Index(), structs.EvalStatusCanceled,
				"the job changed while it was being scheduled; the newer evaluation takes over")
		}
		if err != nil {
			return w.finish(ctx, eval, token, nil, snap.Index(), structs.EvalStatusFailed, err.Error())
		}
		if decision.Plan == nil {
			break
		}
		// Should the applier take the whole plan, the evaluation's outcome
		// goes into the plan's raft entry: one raft round, not two.
		decision.Plan.EvalUpdates = w.outcome(eval, decision, snap.Index(), structs.EvalStatusComplete, "")
		res, err := w.backend.submit(ctx, decision.Plan, token)
		if err != nil {
			return fmt.Errorf("submit plan: %w", err)
		}
		if res.EvalsCommitted {
			return nil
		}
		if len(res.RefusedNodes) == 0 {
			break
		}
		if len(res.NodeAllocation) > 0 {
			// Part of the plan went in: other workers took some nodes first,
			// which is no dead end. Only passes that place nothing count.
			attempt = 0
		}
		if attempt == maxPlanAttempts {
			// What is left is tried again later, as for an evaluation that
			// reached its delivery limit.
			decision.FollowupEvals = append(decision.FollowupEvals, failedFollowUp(eval, w.now()))
			return w.finish(ctx, eval, token, decision, snap.Index(), structs.EvalStatusFailed, "plan refused repeatedly: nodes changed under it")
		}
		if snap, err = w.snapshotAt(ctx, res.AllocIndex); err != nil {
			return err
		}
	}
	return w.finish(ctx, eval, token, decision, snap.Index(), structs.EvalStatusComplete, "")
}

// interrupt is the Interrupt of a pass over snap: yes once leadership is
// lost or the server stops, or once the job's specification in the live
// state is no longer the snapshot's (changed, stopped or purged): every
// such change comes with an evaluation of its own, which redoes the work
// on the new specification.
func (w *worker) interrupt(ctx context.Context, snap *state.Snapshot, eval *structs.Evaluation) func() bool {
	version := func(j *structs.Job) (uint64, bool) { return j.GetJobModifyIndex(), j != nil }
	wantIndex, wantExists := version(snap.Job(eval.Namespace, eval.JobId))
	return func() bool {
		if ctx.Err() != nil || w.stop != nil && w.stop.Err() != nil {
			return true
		}
		index, exists := version(w.state.Snapshot().Job(eval.Namespace, eval.JobId))
		return index != wantIndex || exists != wantExists
	}
}

// finish records the evaluation's outcome and, when placements failed for
// lack of room, a blocked evaluation that waits for capacity. snapIndex is
// the state the decision was made on.
func (w *worker) finish(ctx context.Context, eval *structs.Evaluation, token string, d *scheduler.Decision, snapIndex uint64, status, desc string) error {
	return w.backend.updateEvals(ctx, eval.Id, token, w.outcome(eval, d, snapIndex, status, desc))
}

// outcome is what finish writes: the evaluation with its status, then the
// evaluations the decision leaves (follow-ups, a blocked one).
func (w *worker) outcome(eval *structs.Evaluation, d *scheduler.Decision, snapIndex uint64, status, desc string) []*structs.Evaluation {
	upd := proto.Clone(eval).(*structs.Evaluation)
	upd.Status = status
	upd.StatusDescription = desc
	upd.SnapshotIndex = snapIndex
	evals := []*structs.Evaluation{upd}
	if d != nil {
		upd.FailedTgAllocs = d.FailedTGAllocs
		upd.QueuedAllocations = d.QueuedAllocations
		upd.ClassEligibility = d.ClassEligibility
		upd.EscapedComputedClass = d.EscapedComputedClass
		evals = append(evals, d.FollowupEvals...)
		if d.Blocked() && status == structs.EvalStatusComplete {
			if eval.Status == structs.EvalStatusBlocked {
				// Still blocked: park the same evaluation again.
				upd.Status = structs.EvalStatusBlocked
			} else {
				blocked := &structs.Evaluation{
					Id: newUUID(), Namespace: eval.Namespace, Priority: eval.Priority,
					Type: eval.Type, TriggeredBy: structs.EvalTriggerQueuedAllocs, JobId: eval.JobId,
					JobModifyIndex: eval.JobModifyIndex, Status: structs.EvalStatusBlocked,
					PreviousEval: eval.Id, FailedTgAllocs: d.FailedTGAllocs, SnapshotIndex: snapIndex,
					ClassEligibility: d.ClassEligibility, EscapedComputedClass: d.EscapedComputedClass,
				}
				upd.BlockedEval = blocked.Id
				evals = append(evals, blocked)
			}
		}
	}
	return evals
}

// runScheduler runs one pass, turning a panic (a host's scheduler may have
// bugs) into an error that fails the evaluation instead of the server, and
// a nil decision into an empty one.
func runScheduler(sched scheduler.Scheduler, st scheduler.State, in scheduler.Input) (d *scheduler.Decision, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("scheduler panicked: %v", r)
		}
	}()
	d, err = sched.Schedule(st, in)
	if err == nil && d == nil {
		d = &scheduler.Decision{}
	}
	return d, err
}

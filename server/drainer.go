package server

import (
	"context"
	"time"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// The drainer runs on the leader. For every draining node it marks the
// node's allocations to migrate (desired_transition.migrate), with one
// evaluation per affected job, so that the scheduler stops each and places
// its replacement on another node in the same plan:
//
//   - service allocations at once, or, for a group with a migrate block,
//     at most its max_parallel at a time across every draining node,
//     waiting for the replacements to be healthy (drain_migrate.go);
//   - batch and sysbatch allocations are left to finish until the
//     deadline, then migrated;
//   - system allocations last, once nothing else is left (or at the
//     deadline); none with ignore_system_jobs.
//
// When the deadline passes, every allocation still on the node is stopped,
// whether or not its replacement found room elsewhere: allocations marked
// earlier whose migration is still waiting get one more evaluation of
// their jobs, once per drain, in which the scheduler stops them. A drain
// without a deadline (0, as Nomad's -no-deadline) waits for as long as it
// takes; a negative one (-force) stops everything at once.
//
// When no allocation that should be drained remains, the drain completes:
// the node's drain strategy is cleared (it stays ineligible) and its
// last_drain records "complete".

// drainerTimeout bounds one raft write of the drainer.
const drainerTimeout = 30 * time.Second

// drainerSpacing is the least time between two passes: a pass looks at
// every node, and the state may change far more often than that.
const drainerSpacing = 50 * time.Millisecond

// drainLoop runs drain passes whenever the state changes, and when the
// nearest drain deadline passes, until ctx is done.
func (s *Server) drainLoop(ctx context.Context) {
	var index uint64
	overdue := map[string]int64{}
	for ctx.Err() == nil {
		began := s.cfg.Clock.Now()
		next := s.drainPass(ctx, overdue)
		wctx, cancel := context.WithCancel(ctx)
		if !next.IsZero() {
			t := s.cfg.Clock.AfterFunc(clock.Until(s.cfg.Clock, next), cancel)
			index = s.state.WaitForIndex(wctx, index)
			t.Stop()
		} else {
			index = s.state.WaitForIndex(wctx, index)
		}
		cancel()
		if !clock.Sleep(ctx, s.cfg.Clock, drainerSpacing-clock.Since(s.cfg.Clock, began)) {
			return
		}
	}
}

// drainWork is what one pass decided for one node.
type drainWork struct {
	marks map[string]*structs.DesiredTransition
	jobs  map[[2]string]*structs.Job
	// overdue are the jobs of allocations marked before the deadline that
	// are still running past it.
	overdue  map[[2]string]*structs.Job
	complete bool
}

// drainPass marks what is due on every draining node and completes the
// drains with nothing left. It returns the nearest deadline still ahead
// (zero if none). overdue remembers, per node, the deadline whose
// overdue allocations were already given their evaluations.
func (s *Server) drainPass(ctx context.Context, overdue map[string]int64) time.Time {
	if !s.raft.IsLeader() {
		return time.Time{}
	}
	now := s.cfg.Clock.Now()
	var next time.Time
	work := map[string]*drainWork{}
	s.state.View(func(snap *state.Snapshot) {
		budget := newMigrateBudget(snap)
		for _, n := range snap.Nodes() {
			ds := n.DrainStrategy
			if ds == nil {
				continue
			}
			deadline := time.Unix(0, ds.ForceDeadline)
			past := ds.ForceDeadline != 0 && !now.Before(deadline)
			if ds.ForceDeadline != 0 && !past && (next.IsZero() || deadline.Before(next)) {
				next = deadline
			}
			work[n.Id] = planDrainWithin(snap, n, past, budget)
		}
	})
	for nodeID := range overdue {
		if w := work[nodeID]; w == nil || len(w.overdue) == 0 {
			delete(overdue, nodeID)
		}
	}
	for nodeID, w := range work {
		if len(w.overdue) > 0 && overdue[nodeID] == 0 {
			evals := make([]*structs.Evaluation, 0, len(w.overdue))
			for _, job := range w.overdue {
				e := newEval(job, structs.EvalTriggerNodeDrain)
				e.NodeId = nodeID
				evals = append(evals, e)
			}
			s.logger.Info("node drain deadline passed; stopping what is left", "node", nodeID, "jobs", len(evals))
			if s.proposeDrain(ctx, nodeID, &structs.LogCommand{Command: &structs.LogCommand_EvalUpsert{
				EvalUpsert: &structs.EvalUpsert{Evals: evals},
			}}) {
				overdue[nodeID] = 1
			}
		}
		if len(w.marks) > 0 {
			evals := make([]*structs.Evaluation, 0, len(w.jobs))
			for _, job := range w.jobs {
				e := newEval(job, structs.EvalTriggerNodeDrain)
				e.NodeId = nodeID
				evals = append(evals, e)
			}
			s.proposeDrain(ctx, nodeID, &structs.LogCommand{Command: &structs.LogCommand_AllocTransition{
				AllocTransition: &structs.AllocTransitionUpdate{Transitions: w.marks, Evals: evals},
			}})
			continue
		}
		if w.complete {
			s.logger.Info("node drain complete", "node", nodeID)
			s.proposeDrain(ctx, nodeID, &structs.LogCommand{Command: &structs.LogCommand_NodeDrain{
				NodeDrain: &structs.NodeDrainUpdate{NodeId: nodeID, DrainStatus: structs.DrainStatusComplete},
			}})
		}
	}
	return next
}

// proposeDrain writes one drainer entry and reports whether it committed.
func (s *Server) proposeDrain(ctx context.Context, nodeID string, cmd *structs.LogCommand) bool {
	pctx, cancel := context.WithTimeout(ctx, drainerTimeout)
	defer cancel()
	if _, err := s.raft.Propose(pctx, cmd); err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("drainer write failed; the next pass retries", "node", nodeID, "error", err)
		}
		return false
	}
	return true
}

// planDrain decides which of a draining node's allocations to mark now,
// and whether the drain is complete.
func planDrain(snap *state.Snapshot, n *structs.Node, pastDeadline bool) *drainWork {
	return planDrainWithin(snap, n, pastDeadline, newMigrateBudget(snap))
}

// planDrainWithin is planDrain with the migrate budget of the whole pass.
func planDrainWithin(snap *state.Snapshot, n *structs.Node, pastDeadline bool, budget *migrateBudget) *drainWork {
	w := &drainWork{marks: map[string]*structs.DesiredTransition{}, jobs: map[[2]string]*structs.Job{}, overdue: map[[2]string]*structs.Job{}}
	ignoreSystem := n.DrainStrategy.GetIgnoreSystemJobs()
	var system []*structs.Allocation
	othersLeft := false
	for _, a := range snap.AllocsByNode(n.Id) {
		if a.IsTerminal() {
			continue
		}
		jobType := a.GetJob().GetType()
		if jobType == structs.JobTypeSystem {
			if !ignoreSystem {
				system = append(system, a)
			}
			continue
		}
		othersLeft = true
		if a.GetDesiredTransition().GetMigrate() {
			if pastDeadline && a.DesiredStatus == structs.AllocDesiredRun {
				if job := snap.Job(a.Namespace, a.JobId); job != nil {
					w.overdue[[2]string{job.Namespace, job.Id}] = job
				}
			}
			continue
		}
		batch := jobType == structs.JobTypeBatch || jobType == structs.JobTypeSysBatch
		if batch && !pastDeadline {
			continue
		}
		if !pastDeadline && !budget.allow(a) {
			continue // its group migrates max_parallel at a time
		}
		w.mark(snap, a)
	}
	for _, a := range system {
		if (!othersLeft || pastDeadline) && !a.GetDesiredTransition().GetMigrate() {
			w.mark(snap, a)
		}
	}
	w.complete = !othersLeft && len(system) == 0
	return w
}

func (w *drainWork) mark(snap *state.Snapshot, a *structs.Allocation) {
	tr := &structs.DesiredTransition{Migrate: true}
	if cur := a.GetDesiredTransition(); cur != nil {
		tr.Reschedule, tr.ForceReschedule = cur.Reschedule, cur.ForceReschedule
	}
	w.marks[a.Id] = tr
	if job := snap.Job(a.Namespace, a.JobId); job != nil {
		w.jobs[[2]string{job.Namespace, job.Id}] = job
	}
}

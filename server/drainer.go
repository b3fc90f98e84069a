package server

import (
	"context"
	"time"

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
	for ctx.Err() == nil {
		began := time.Now()
		next := s.drainPass(ctx)
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if !next.IsZero() {
			wctx, cancel = context.WithDeadline(ctx, next)
		}
		index = s.state.WaitForIndex(wctx, index)
		cancel()
		if !sleepCtx(ctx, drainerSpacing-time.Since(began)) {
			return
		}
	}
}

// sleepCtx waits d or until ctx is done, reporting whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// drainWork is what one pass decided for one node.
type drainWork struct {
	marks    map[string]*structs.DesiredTransition
	jobs     map[[2]string]*structs.Job
	complete bool
}

// drainPass marks what is due on every draining node and completes the
// drains with nothing left. It returns the nearest deadline still ahead
// (zero if none).
func (s *Server) drainPass(ctx context.Context) time.Time {
	if !s.raft.isLeader() {
		return time.Time{}
	}
	now := s.cfg.Clock()
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
			past := !now.Before(deadline)
			if !past && (next.IsZero() || deadline.Before(next)) {
				next = deadline
			}
			work[n.Id] = planDrainWithin(snap, n, past, budget)
		}
	})
	for nodeID, w := range work {
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

func (s *Server) proposeDrain(ctx context.Context, nodeID string, cmd *structs.LogCommand) {
	pctx, cancel := context.WithTimeout(ctx, drainerTimeout)
	defer cancel()
	if _, err := s.raft.propose(pctx, cmd); err != nil && ctx.Err() == nil {
		s.logger.Warn("drainer write failed; the next pass retries", "node", nodeID, "error", err)
	}
}

// planDrain decides which of a draining node's allocations to mark now,
// and whether the drain is complete.
func planDrain(snap *state.Snapshot, n *structs.Node, pastDeadline bool) *drainWork {
	return planDrainWithin(snap, n, pastDeadline, newMigrateBudget(snap))
}

// planDrainWithin is planDrain with the migrate budget of the whole pass.
func planDrainWithin(snap *state.Snapshot, n *structs.Node, pastDeadline bool, budget *migrateBudget) *drainWork {
	w := &drainWork{marks: map[string]*structs.DesiredTransition{}, jobs: map[[2]string]*structs.Job{}}
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

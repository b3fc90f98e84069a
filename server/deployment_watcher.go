package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// The deployment watcher runs on the leader. Everything it needs lives in
// the replicated state (the deployments with their counts and progress
// deadlines, the allocations' health), so a new leader's watcher carries
// on where the old one stopped. On every change of the state it looks at
// the active deployments whose counts moved, and:
//
//   - when an allocation of a deployment turned unhealthy, fails the
//     deployment (with progress_deadline 0, or when the allocation may
//     not be rescheduled any more), reverting the job to its latest
//     stable version when the group has auto_revert; otherwise marks the
//     allocation to be replaced;
//   - promotes a deployment whose groups all auto_promote once every
//     canary is healthy;
//   - creates an evaluation of the job when allocations became healthy,
//     so the scheduler replaces the next ones (or marks the deployment
//     successful) — one at a time per deployment: a new one only once
//     the previous is no longer pending;
//   - fails a deployment whose progress deadline passed without enough
//     healthy allocations.
//
// Its only timer is the nearest progress deadline, on the server's clock,
// so tests step a fake one.

// deploymentWatcher drives the active deployments; see above.
type deploymentWatcher struct {
	state  *state.Store
	raft   proposer
	clock  clock.Clock
	logger *slog.Logger
	// fail builds the raft entry that fails a deployment (Server.failCommand).
	fail func(snap *state.Snapshot, d *structs.Deployment, desc string, rollback bool) *structs.LogCommand
	// busy and passes, when set, count decision time and passes.
	busy   func(time.Duration)
	passes func()

	watched map[string]*watchedDeployment
	// proposing is the time spent in raft proposals during a pass.
	proposing time.Duration
}

// watchedDeployment is what the watcher remembers of one deployment.
type watchedDeployment struct {
	// modifyIndex is the deployment's modify index last looked at.
	modifyIndex uint64
	// healthy is the healthy count the last evaluation was made for;
	// -1 asks for an evaluation regardless (a new leader resuming).
	healthy int32
	// evalID is the last evaluation the watcher created.
	evalID string
}

func newDeploymentWatcher(s *Server, c clock.Clock) *deploymentWatcher {
	return &deploymentWatcher{
		state: s.state, raft: s.raft, clock: c, logger: s.logger.With("component", "deployment watcher"),
		fail:    s.failCommand,
		busy:    func(d time.Duration) { s.metrics.watcherSeconds.Add(d.Seconds()) },
		passes:  s.metrics.watcherPasses.Inc,
		watched: map[string]*watchedDeployment{},
	}
}

// run watches until ctx is done (leadership lost or shutdown).
func (w *deploymentWatcher) run(ctx context.Context) {
	resume := true
	for ctx.Err() == nil {
		snap := w.state.Snapshot()
		next := w.pass(ctx, snap, resume)
		resume = false
		var (
			fire  <-chan time.Time
			timer clock.Timer
		)
		if !next.IsZero() {
			timer = w.clock.NewTimer(max(next.Sub(w.clock.Now()), 0))
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-w.state.NotifyAfter(snap.Index()):
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// pass looks at every active deployment once and returns the nearest
// progress deadline still ahead (zero if none). With resume, every
// active deployment gets an evaluation: the previous leader may have
// stopped before making one.
func (w *deploymentWatcher) pass(ctx context.Context, snap *state.Snapshot, resume bool) time.Time {
	start := time.Now()
	w.proposing = 0
	defer func() {
		if w.busy != nil {
			w.busy(max(time.Since(start)-w.proposing, 0))
		}
		if w.passes != nil {
			w.passes()
		}
	}()
	var next time.Time
	active := snap.ActiveDeployments()
	seen := make(map[string]bool, len(active))
	for _, d := range active {
		if ctx.Err() != nil {
			return time.Time{}
		}
		seen[d.Id] = true
		wd := w.watched[d.Id]
		if wd == nil {
			wd = &watchedDeployment{healthy: healthySum(d)}
			if resume {
				wd.healthy = -1
			}
			w.watched[d.Id] = wd
		}
		if at := w.step(ctx, snap, d, wd); !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	for id := range w.watched {
		if !seen[id] {
			delete(w.watched, id)
		}
	}
	return next
}

// step acts on one deployment and returns its progress deadline, if one
// is ahead.
func (w *deploymentWatcher) step(ctx context.Context, snap *state.Snapshot, d *structs.Deployment, wd *watchedDeployment) time.Time {
	if d.Status != structs.DeploymentStatusRunning {
		wd.modifyIndex = d.ModifyIndex
		return time.Time{} // paused: nothing moves, no deadline runs
	}
	if d.ModifyIndex != wd.modifyIndex {
		wd.modifyIndex = d.ModifyIndex
		if w.unhealthy(ctx, snap, d) || w.autoPromote(ctx, snap, d) {
			return time.Time{}
		}
	}
	cutoff := progressCutoff(d)
	if !cutoff.IsZero() && !w.clock.Now().Before(cutoff) {
		if failed, rollback := deadlineFailure(d); failed {
			w.logger.Info("deployment missed its progress deadline", "deployment", d.Id, "job", d.JobId)
			w.propose(ctx, w.fail(snap, d, structs.DeploymentDescProgressDeadline, rollback))
			return time.Time{}
		}
		cutoff = time.Time{} // enough is healthy; the next change arms it again
	}
	if h := healthySum(d); h > wd.healthy && !evalPending(snap, wd.evalID) {
		if e := deploymentEval(snap, d); e != nil {
			if w.propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_EvalUpsert{EvalUpsert: &structs.EvalUpsert{
				Evals: []*structs.Evaluation{e},
			}}}) {
				wd.healthy, wd.evalID = h, e.Id
			}
		}
	}
	return cutoff
}

// unhealthy handles a deployment with unhealthy allocations: it fails it
// when one of them may not be replaced (Nomad's fail-early rule), else
// marks them to be rescheduled. It reports whether it failed it.
func (w *deploymentWatcher) unhealthy(ctx context.Context, snap *state.Snapshot, d *structs.Deployment) bool {
	n := int32(0)
	for _, g := range d.TaskGroups {
		n += g.UnhealthyAllocs
	}
	if n == 0 {
		return false
	}
	job := snap.Job(d.Namespace, d.JobId)
	now := w.clock.Now()
	marks := map[string]*structs.DesiredTransition{}
	for _, a := range snap.AllocsByDeployment(d.Id) {
		g := d.TaskGroups[a.TaskGroup]
		if g == nil || !a.DeploymentStatus.IsUnhealthy() || a.NextAllocation != "" {
			continue
		}
		if g.ProgressDeadline.AsDuration() == 0 || job == nil || !scheduler.RescheduleEligible(a, job, now) {
			w.logger.Info("deployment failed: an allocation is unhealthy", "deployment", d.Id, "job", d.JobId, "alloc", a.Id)
			w.propose(ctx, w.fail(snap, d, structs.DeploymentDescFailedAllocations, g.AutoRevert))
			return true
		}
		if a.DesiredStatus == structs.AllocDesiredRun && !a.DesiredTransition.GetReschedule() {
			marks[a.Id] = &structs.DesiredTransition{Reschedule: true, Migrate: a.DesiredTransition.GetMigrate()}
		}
	}
	if len(marks) > 0 {
		var evals []*structs.Evaluation
		if e := deploymentEval(snap, d); e != nil {
			evals = append(evals, e)
		}
		w.propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_AllocTransition{AllocTransition: &structs.AllocTransitionUpdate{
			Transitions: marks, Evals: evals,
		}}})
	}
	return false
}

// autoPromote promotes a deployment whose waiting groups all auto_promote
// once all their canaries are healthy. It reports whether it did.
func (w *deploymentWatcher) autoPromote(ctx context.Context, snap *state.Snapshot, d *structs.Deployment) bool {
	if !d.RequiresPromotion() || !d.HasAutoPromote() {
		return false
	}
	for _, g := range d.TaskGroups {
		if g.DesiredCanaries == 0 || g.Promoted {
			continue
		}
		healthy := int32(0)
		for _, id := range g.PlacedCanaries {
			if a := snap.Alloc(id); a != nil && a.DeploymentStatus.IsHealthy() && !a.ClientTerminal() {
				healthy++
			}
		}
		if healthy < g.DesiredCanaries {
			return false
		}
	}
	w.logger.Info("promoting the canaries of the deployment", "deployment", d.Id, "job", d.JobId)
	return w.propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_DeploymentPromote{DeploymentPromote: &structs.DeploymentPromote{
		DeploymentId: d.Id, All: true, Eval: deploymentEval(snap, d),
	}}})
}

// propose commits one entry, counting the wait apart from the watcher's
// own work; a failure is logged (the next pass decides again).
func (w *deploymentWatcher) propose(ctx context.Context, cmd *structs.LogCommand) bool {
	start := time.Now()
	_, err := w.raft.Propose(ctx, cmd)
	w.proposing += time.Since(start)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrShutdown) {
			w.logger.Warn("deployment watcher write failed; the next pass decides again", "error", err)
		}
		return false
	}
	return true
}

// healthySum is the deployment's healthy allocations over every group.
func healthySum(d *structs.Deployment) int32 {
	n := int32(0)
	for _, g := range d.TaskGroups {
		n += g.HealthyAllocs
	}
	return n
}

// evalPending reports whether the evaluation still waits to be processed.
func evalPending(snap *state.Snapshot, id string) bool {
	if id == "" {
		return false
	}
	e := snap.Eval(id)
	return e != nil && e.Status == structs.EvalStatusPending
}

// groupDone reports whether a group has as many healthy allocations as
// it wants, its canaries promoted.
func groupDone(g *structs.DeploymentState) bool {
	return (g.DesiredCanaries == 0 || g.Promoted) && g.HealthyAllocs >= g.DesiredTotal
}

// progressCutoff is the nearest progress deadline of the groups not done,
// or zero.
func progressCutoff(d *structs.Deployment) time.Time {
	var next int64
	for _, g := range d.TaskGroups {
		if groupDone(g) || g.RequireProgressBy == 0 {
			continue
		}
		if next == 0 || g.RequireProgressBy < next {
			next = g.RequireProgressBy
		}
	}
	if next == 0 {
		return time.Time{}
	}
	return time.Unix(0, next)
}

// deadlineFailure decides, at a progress deadline, whether the
// deployment failed (a group lacks healthy canaries, or healthy
// allocations) and whether to revert (a failed group has auto_revert).
func deadlineFailure(d *structs.Deployment) (failed, rollback bool) {
	for _, g := range d.TaskGroups {
		if g.DesiredCanaries > 0 && !g.Promoted {
			if g.HealthyAllocs >= g.DesiredCanaries {
				continue
			}
		} else if g.HealthyAllocs >= g.DesiredTotal {
			continue
		}
		failed = true
		rollback = rollback || g.AutoRevert
	}
	return failed, rollback
}

package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// The periodic dispatcher runs on the leader and launches the children of
// periodic jobs at their cron times. Everything it decides from lives in
// the replicated state: the launch last recorded for each job (its
// registration time before the first launch). A launch is one raft entry
// that records the launch time and creates the child, and the FSM applies
// it only if the time is later than the one recorded, so each launch
// time runs exactly once across leader changes: a new leader carries on
// from the recorded launch, and after an outage that spanned several cron
// times launches only the latest of them, as Nomad does. A launch that
// prohibit_overlap skips is recorded the same way, without a child.
//
// It takes its time from the server's clock and re-reads it at least
// every periodicRecheck, so a clock that jumps (or a test clock stepped
// forward) is noticed within that.

const periodicRecheck = time.Second

type periodicDispatcher struct {
	state   *state.Store
	raft    proposer
	timers  timerSource
	logger  *slog.Logger
	tracked func() uint32
	// kick wakes the dispatcher when a periodic job may have changed.
	kick <-chan struct{}
	// jobs are the periodic jobs, found again by a scan of the jobs
	// table after a kick; nil asks for the scan.
	jobs []jobRef
}

type jobRef struct{ ns, id string }

func newPeriodicDispatcher(s *Server, timers timerSource) *periodicDispatcher {
	return &periodicDispatcher{
		state: s.state, raft: s.raft, timers: timers, tracked: s.trackedVersions,
		logger: s.logger.With("component", "periodic dispatcher"), kick: s.periodicKick,
	}
}

// run launches until ctx is done (leadership lost or shutdown).
func (d *periodicDispatcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		now := d.timers.Now()
		next := d.launchDue(ctx, now)
		wait := periodicRecheck
		if !next.IsZero() {
			wait = min(max(next.Sub(now), 0), periodicRecheck)
		}
		fire, stop := d.timers.After(wait)
		select {
		case <-ctx.Done():
		case <-d.kick:
			d.jobs = nil
		case <-fire:
		}
		stop()
	}
}

// launchDue launches what is due at now and returns the earliest launch
// time still ahead (zero if none).
func (d *periodicDispatcher) launchDue(ctx context.Context, now time.Time) time.Time {
	snap := d.state.Snapshot()
	if d.jobs == nil {
		d.jobs = []jobRef{}
		for _, j := range snap.Jobs("", "") {
			if j.IsPeriodic() {
				d.jobs = append(d.jobs, jobRef{j.Namespace, j.Id})
			}
		}
	}
	var next time.Time
	for _, r := range d.jobs {
		if ctx.Err() != nil {
			return time.Time{}
		}
		at := d.launchJob(ctx, snap, r, now)
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// launchJob launches one job's latest due launch, if any, and returns its
// next launch time.
func (d *periodicDispatcher) launchJob(ctx context.Context, snap *state.Snapshot, r jobRef, now time.Time) time.Time {
	job := snap.Job(r.ns, r.id)
	if job == nil || !job.IsPeriodic() || job.Stop || job.Periodic.Disabled {
		return time.Time{}
	}
	last := time.Unix(0, job.SubmitTime)
	if l := snap.PeriodicLaunch(r.ns, r.id); l != nil {
		last = time.Unix(0, l.Launch)
	}
	due, err := job.Periodic.LatestDue(last, now)
	if err != nil {
		d.logger.Warn("periodic job's schedule cannot be read", "job", r.id, "error", err)
		return time.Time{}
	}
	if !due.IsZero() {
		cmd := periodicLaunch(job, due, false, d.tracked())
		if job.Periodic.ProhibitOverlap && liveChild(snap, job) {
			d.logger.Debug("periodic launch skipped: a previous child still runs", "job", r.id, "launch", due)
			cmd.Child, cmd.Eval = nil, nil
		}
		if _, err := d.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_PeriodicLaunch{PeriodicLaunch: cmd}}); err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrShutdown) {
				d.logger.Warn("periodic launch failed", "job", r.id, "launch", due, "error", err)
			}
			return now.Add(periodicRecheck) // try again
		}
		last = due
	}
	next, err := job.Periodic.Next(last)
	if err != nil {
		return time.Time{}
	}
	return next
}

// liveChild reports whether a child of the job has not finished yet.
func liveChild(snap *state.Snapshot, job *structs.Job) bool {
	live := false
	snap.EachJobChild(job.Namespace, job.Id, func(c *structs.Job) bool {
		live = c.Status != structs.JobStatusDead
		return !live
	})
	return live
}

// kickPeriodic tells the periodic dispatcher that periodic jobs changed.
func (s *Server) kickPeriodic() {
	select {
	case s.periodicKick <- struct{}{}:
	default:
	}
}

// periodicChange reports whether an applied command may have added,
// changed or removed a periodic job.
func periodicChange(cmd *structs.LogCommand) bool {
	switch c := cmd.GetCommand().(type) {
	case *structs.LogCommand_JobUpsert:
		return c.JobUpsert.GetJob().IsPeriodic()
	case *structs.LogCommand_JobDelete, *structs.LogCommand_GcReap:
		return true
	}
	return false
}

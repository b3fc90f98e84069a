package server

import (
	"fmt"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// applyJobDispatch stores a dispatched child and its evaluation. The
// parent must still exist and not be stopped; a child with the same
// idempotency token as one the parent already has is not created (the
// dispatcher then returns the first one).
func (f *fsm) applyJobDispatch(tx *state.Txn, index uint64, now int64, c *structs.JobDispatch) ([]*structs.Evaluation, error) {
	child := c.GetChild()
	if child == nil {
		return nil, nil
	}
	parent := tx.Job(child.Namespace, child.ParentId)
	if parent == nil || !parent.IsParameterized() {
		return nil, fmt.Errorf("%w: parameterized job %s in namespace %s", structs.ErrNotFound, structs.Quote(child.ParentId), structs.Quote(child.Namespace))
	}
	if parent.Stop {
		return nil, fmt.Errorf("%w: job %s is stopped: it dispatches nothing", ErrBadRequest, structs.Quote(parent.Id))
	}
	if tok := child.DispatchIdempotencyToken; tok != "" && dispatchedWithToken(tx, parent, tok) != nil {
		return nil, nil
	}
	if tx.Job(child.Namespace, child.Id) != nil {
		return nil, fmt.Errorf("%w: job %s exists already", ErrBadRequest, structs.Quote(child.Id))
	}
	return f.insertChild(tx, index, now, child, c.Eval, c.TrackedVersions), nil
}

// dispatchedWithToken finds the parent's child dispatched with token.
func dispatchedWithToken(tx *state.Txn, parent *structs.Job, token string) *structs.Job {
	var found *structs.Job
	tx.EachJobChild(parent.Namespace, parent.Id, func(j *structs.Job) bool {
		if j.DispatchIdempotencyToken == token {
			found = j
		}
		return found == nil
	})
	return found
}

// insertChild stores a new child job with its evaluation.
func (f *fsm) insertChild(tx *state.Txn, index uint64, now int64, child *structs.Job, eval *structs.Evaluation, tracked uint32) []*structs.Evaluation {
	child.CreateIndex, child.Version, child.JobModifyIndex, child.ModifyIndex = index, 0, index, index
	child.SubmitTime = now
	child.Status, child.StatusUpdatedAt = "", 0
	state.SetJobStatus(child, tx.JobStatus(child), now)
	tx.UpsertJobVersion(child, int(tracked))
	if eval == nil {
		return nil
	}
	eval.JobModifyIndex = index
	return upsertEvals(tx, index, now, []*structs.Evaluation{eval})
}

// applyPeriodicLaunch launches a child of a periodic job. A scheduled
// launch applies once per launch time: only if it is later than the
// launch recorded for the job, which it becomes. So two leaders that both
// decided the same launch (the old one's entry committed after a new one
// was elected) launch it once, and a new leader never repeats one.
func (f *fsm) applyPeriodicLaunch(tx *state.Txn, index uint64, now int64, c *structs.PeriodicLaunchCommand) ([]*structs.Evaluation, error) {
	parent := tx.Job(c.Namespace, c.JobId)
	if parent == nil || !parent.IsPeriodic() {
		return nil, fmt.Errorf("%w: periodic job %s in namespace %s", structs.ErrNotFound, structs.Quote(c.JobId), structs.Quote(c.Namespace))
	}
	if parent.Stop {
		return nil, fmt.Errorf("%w: job %s is stopped: it launches nothing", ErrBadRequest, structs.Quote(parent.Id))
	}
	if !c.Force {
		if last := tx.PeriodicLaunch(c.Namespace, c.JobId); last != nil && last.Launch >= c.Launch {
			return nil, nil
		}
		tx.SetPeriodicLaunch(&structs.PeriodicLaunch{Namespace: c.Namespace, JobId: c.JobId, Launch: c.Launch, ModifyIndex: index})
	}
	child := c.GetChild()
	if child == nil || tx.Job(child.Namespace, child.Id) != nil {
		return nil, nil
	}
	return f.insertChild(tx, index, now, child, c.Eval, c.TrackedVersions), nil
}

// applyJobScale changes a group's count as a new version of the job and
// records the event in the group's history; an event without a count
// only goes into the history.
func (f *fsm) applyJobScale(tx *state.Txn, index uint64, now int64, c *structs.JobScale) ([]*structs.Evaluation, error) {
	cur := tx.Job(c.Namespace, c.JobId)
	if cur == nil {
		return nil, fmt.Errorf("%w: job %s in namespace %s", structs.ErrNotFound, structs.Quote(c.JobId), structs.Quote(c.Namespace))
	}
	if c.EnforceIndex && cur.JobModifyIndex != c.JobModifyIndex {
		return nil, fmt.Errorf("%w: enforcing job modify index %d: job exists with conflicting job modify index: %d",
			ErrBadRequest, c.JobModifyIndex, cur.JobModifyIndex)
	}
	ev := state.CloneScalingEvent(c.GetEvent())
	if ev == nil {
		ev = &structs.ScalingEvent{}
	}
	ev.Time, ev.CreateIndex = now, index
	var prev int32 = -1
	for _, g := range cur.TaskGroups {
		if g.Name == c.Group {
			prev = g.Count
		}
	}
	if prev < 0 {
		return nil, fmt.Errorf("%w: job %s has no group %s", ErrBadRequest, structs.Quote(c.JobId), structs.Quote(c.Group))
	}
	ev.PreviousCount = int64(prev)
	var evals []*structs.Evaluation
	if ev.HasCount {
		if err := cur.ValidateScale(c.Group, ev.Count); err != nil {
			return nil, err
		}
		job := state.CloneJob(cur)
		for _, g := range job.TaskGroups {
			if g.Name == c.Group {
				g.Count = int32(ev.Count)
			}
		}
		job.Version, job.JobModifyIndex, job.ModifyIndex = cur.Version+1, index, index
		job.SubmitTime, job.Stable = now, false
		state.SetJobStatus(job, tx.JobStatus(job), now)
		tx.UpsertJobVersion(job, int(c.TrackedVersions))
		if c.Eval != nil {
			eval := state.CloneEval(c.Eval)
			eval.JobModifyIndex = index
			ev.EvalId = eval.Id
			evals = upsertEvals(tx, index, now, []*structs.Evaluation{eval})
		}
	}
	tx.AddScalingEvent(c.Namespace, c.JobId, c.Group, index, ev)
	return evals, nil
}

package server

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// applyListener hears about applied changes that leader-only services react
// to. The FSM calls it on every server; the server ignores it unless it leads.
type applyListener interface {
	// evalsApplied is called with evaluations as stored.
	evalsApplied(evals []*structs.Evaluation)
	// capacityChanged is called when a node or allocation change at index
	// may let blocked evaluations place.
	capacityChanged(index uint64)
	// entryApplied is called after every applied command, with the state
	// store at index (the event broker publishes from it).
	entryApplied(index uint64, cmd *structs.LogCommand)
	// stateRestored is called when a raft snapshot or an operator restore
	// replaced the whole state at index.
	stateRestored(index uint64)
}

// fsm applies committed raft commands to the state store. Apply runs on the
// raft goroutine only; every server applies the same commands in the same order.
type fsm struct {
	state    *state.Store
	listener applyListener
	restores restoreState
}

// apply decodes and applies the entry at index; the result is handed to
// the proposer, if it waits on this server.
func (f *fsm) apply(index uint64, data []byte) (*structs.LogCommand, any, error) {
	if len(data) == 0 {
		return nil, nil, nil
	}
	var cmd structs.LogCommand
	if err := proto.Unmarshal(data, &cmd); err != nil {
		return nil, nil, fmt.Errorf("fsm: decode entry %d: %w", index, err)
	}
	if c, ok := cmd.Command.(*structs.LogCommand_StateRestore); ok {
		if f.applyStateRestore(index, c.StateRestore) && f.listener != nil {
			f.listener.stateRestored(index)
		}
		return &cmd, index, nil
	}
	tx := f.state.Begin()
	var (
		evals    []*structs.Evaluation
		capacity bool
		applyErr error
	)
	switch c := cmd.Command.(type) {
	case *structs.LogCommand_JobUpsert:
		evals = f.applyJobUpsert(tx, index, cmd.Time, c.JobUpsert)
	case *structs.LogCommand_JobDelete:
		evals, applyErr = f.applyJobDelete(tx, index, cmd.Time, c.JobDelete)
	case *structs.LogCommand_NodeUpsert:
		evals = f.applyNodeUpsert(tx, index, cmd.Time, c.NodeUpsert)
		capacity = true
	case *structs.LogCommand_NodeStatus:
		evals = f.applyNodeStatus(tx, index, cmd.Time, c.NodeStatus)
		capacity = true
	case *structs.LogCommand_EvalUpsert:
		evals = upsertEvals(tx, index, cmd.Time, c.EvalUpsert.Evals)
	case *structs.LogCommand_PlanApply:
		evals = f.applyPlan(tx, index, cmd.Time, c.PlanApply)
		capacity = len(c.PlanApply.GetResult().GetNodeUpdate()) > 0
	case *structs.LogCommand_AllocClientUpdate:
		capacity = f.applyAllocClientUpdate(tx, index, cmd.Time, c.AllocClientUpdate)
		evals = upsertEvals(tx, index, cmd.Time, c.AllocClientUpdate.Evals)
	case *structs.LogCommand_GcReap:
		applyGCReap(tx, c.GcReap)
	case *structs.LogCommand_NodeEligibility:
		evals, capacity = applyNodeEligibility(tx, index, cmd.Time, c.NodeEligibility)
	case *structs.LogCommand_AllocTransition:
		evals = f.applyAllocTransition(tx, index, cmd.Time, c.AllocTransition)
	case *structs.LogCommand_NodeDrain:
		evals = f.applyNodeDrain(tx, index, cmd.Time, c.NodeDrain)
		capacity = c.NodeDrain.Eligibility == structs.NodeEligible
	case nil:
		// A barrier: nothing to change, but the index moves.
	default:
		tx.Commit(index)
		return &cmd, nil, fmt.Errorf("fsm: unknown command %T at %d", c, index)
	}
	tx.Commit(index)
	if f.listener != nil {
		if len(evals) > 0 {
			f.listener.evalsApplied(evals)
		}
		if capacity {
			f.listener.capacityChanged(index)
		}
		f.listener.entryApplied(index, &cmd)
	}
	return &cmd, index, applyErr
}

func (f *fsm) applyJobUpsert(tx *state.Txn, index uint64, now int64, c *structs.JobUpsert) []*structs.Evaluation {
	if c.Job == nil {
		return nil // a malformed entry changes nothing
	}
	job := proto.Clone(c.Job).(*structs.Job)
	if old := tx.Job(job.Namespace, job.Id); old != nil {
		job.CreateIndex = old.CreateIndex
		job.Version = old.Version + 1
	} else {
		job.CreateIndex = index
		job.Version = 0
	}
	job.ModifyIndex = index
	job.JobModifyIndex = index
	job.SubmitTime = now
	setJobStatus(job, jobStatus(tx, job), now)
	tx.UpsertJob(job)
	if c.Eval == nil {
		return nil
	}
	eval := proto.Clone(c.Eval).(*structs.Evaluation)
	eval.JobModifyIndex = index
	return upsertEvals(tx, index, now, []*structs.Evaluation{eval})
}

// applyJobDelete stops or purges a job. Whether the job exists is decided
// here, as the entry applies, so concurrent deregistrations of one job see
// it exactly once: the later ones find nothing and change nothing.
func (f *fsm) applyJobDelete(tx *state.Txn, index uint64, now int64, c *structs.JobDelete) ([]*structs.Evaluation, error) {
	cur := tx.Job(c.Namespace, c.JobId)
	if cur == nil {
		return nil, fmt.Errorf("%w: job %q in namespace %q", structs.ErrNotFound, c.JobId, c.Namespace)
	}
	if c.Purge {
		tx.DeleteJob(c.Namespace, c.JobId)
	} else {
		job := proto.Clone(cur).(*structs.Job)
		job.Stop = true
		job.Version = cur.Version + 1
		job.ModifyIndex = index
		job.JobModifyIndex = index
		job.SubmitTime = now
		setJobStatus(job, jobStatus(tx, job), now)
		tx.UpsertJob(job)
	}
	if c.Eval == nil {
		return nil, nil
	}
	// The evaluation that stops the job's allocations takes the job's
	// identity as stored, not as the proposer saw it.
	eval := proto.Clone(c.Eval).(*structs.Evaluation)
	eval.Namespace, eval.JobId, eval.Priority, eval.Type = cur.Namespace, cur.Id, cur.Priority, cur.Type
	if eval.Status == "" {
		eval.Status = structs.EvalStatusPending
	}
	return upsertEvals(tx, index, now, []*structs.Evaluation{eval}), nil
}

func (f *fsm) applyNodeUpsert(tx *state.Txn, index uint64, now int64, c *structs.NodeUpsert) []*structs.Evaluation {
	if c.Node == nil {
		return nil // a malformed entry changes nothing
	}
	node := proto.Clone(c.Node).(*structs.Node)
	if old := tx.Node(node.Id); old != nil {
		node.CreateIndex = old.CreateIndex
		if node.SchedulingEligibility == "" {
			node.SchedulingEligibility = old.SchedulingEligibility
		}
	} else {
		node.CreateIndex = index
	}
	if node.SchedulingEligibility == "" {
		node.SchedulingEligibility = structs.NodeEligible
	}
	node.ModifyIndex = index
	node.StatusUpdatedAt = now
	tx.UpsertNode(node)
	return upsertEvals(tx, index, now, c.Evals)
}

func (f *fsm) applyNodeStatus(tx *state.Txn, index uint64, now int64, c *structs.NodeStatusUpdate) []*structs.Evaluation {
	old := tx.Node(c.NodeId)
	if old == nil {
		return nil
	}
	node := proto.Clone(old).(*structs.Node)
	node.Status = c.Status
	node.ModifyIndex = index
	node.StatusUpdatedAt = now
	tx.UpsertNode(node)
	if c.Status == structs.NodeStatusDown {
		// Everything the node ran is lost; the evaluations replace it.
		for _, a := range tx.AllocsByNode(c.NodeId) {
			if a.ClientTerminal() {
				continue
			}
			lost := proto.Clone(a).(*structs.Allocation)
			lost.ClientStatus = structs.AllocClientLost
			lost.ClientDescription = "node is down"
			if lost.DesiredStatus == structs.AllocDesiredRun {
				lost.DesiredStatus = structs.AllocDesiredStop
				lost.DesiredDescription = "alloc is lost since its node is down"
			}
			lost.ModifyIndex = index
			lost.AllocModifyIndex = index
			lost.ModifyTime = now
			tx.UpsertAlloc(lost)
			refreshJobStatus(tx, index, now, lost.Namespace, lost.JobId)
		}
	}
	return upsertEvals(tx, index, now, c.Evals)
}

func (f *fsm) applyPlan(tx *state.Txn, index uint64, now int64, c *structs.PlanApply) []*structs.Evaluation {
	jobs := map[[2]string]bool{}
	for _, a := range c.GetResult().GetNodeUpdate() {
		cur := tx.Alloc(a.Id)
		if cur == nil {
			continue
		}
		stopped := proto.Clone(cur).(*structs.Allocation)
		stopped.DesiredStatus = a.DesiredStatus
		stopped.DesiredDescription = a.DesiredDescription
		stopped.ModifyIndex = index
		stopped.AllocModifyIndex = index
		stopped.ModifyTime = now
		tx.UpsertAlloc(stopped)
		jobs[[2]string{stopped.Namespace, stopped.JobId}] = true
	}
	for _, a := range c.GetResult().GetNodeAllocation() {
		alloc := proto.Clone(a).(*structs.Allocation)
		if cur := tx.Alloc(alloc.Id); cur != nil {
			alloc.CreateIndex = cur.CreateIndex
			alloc.ClientStatus = cur.ClientStatus
			alloc.TaskStates = cur.TaskStates
		} else {
			alloc.CreateIndex = index
		}
		alloc.ModifyIndex = index
		alloc.AllocModifyIndex = index
		alloc.ModifyTime = now
		tx.UpsertAlloc(alloc)
		jobs[[2]string{alloc.Namespace, alloc.JobId}] = true
	}
	for k := range jobs {
		refreshJobStatus(tx, index, now, k[0], k[1])
	}
	var evals []*structs.Evaluation
	if c.Eval != nil {
		evals = append(evals, c.Eval)
	}
	return upsertEvals(tx, index, now, append(evals, c.NewEvals...))
}

// applyAllocClientUpdate records what a client reports; it returns true when
// an allocation became terminal, freeing capacity.
func (f *fsm) applyAllocClientUpdate(tx *state.Txn, index uint64, now int64, c *structs.AllocClientUpdate) bool {
	freed := false
	for _, a := range c.Allocations {
		cur := tx.Alloc(a.Id)
		if cur == nil {
			continue
		}
		upd := proto.Clone(cur).(*structs.Allocation)
		upd.ClientStatus = a.ClientStatus
		upd.ClientDescription = a.ClientDescription
		upd.TaskStates = a.TaskStates
		upd.ModifyIndex = index
		upd.ModifyTime = now
		if !cur.ClientTerminal() && upd.ClientTerminal() {
			freed = true
		}
		tx.UpsertAlloc(upd)
		refreshJobStatus(tx, index, now, upd.Namespace, upd.JobId)
	}
	return freed
}

// upsertEvals stores evaluations, stamping their indexes and times.
func upsertEvals(tx *state.Txn, index uint64, now int64, in []*structs.Evaluation) []*structs.Evaluation {
	out := make([]*structs.Evaluation, 0, len(in))
	for _, e := range in {
		e = proto.Clone(e).(*structs.Evaluation)
		if old := tx.Eval(e.Id); old != nil {
			e.CreateIndex = old.CreateIndex
			e.CreateTime = old.CreateTime
		} else {
			e.CreateIndex = index
			e.CreateTime = now
		}
		e.ModifyIndex = index
		e.ModifyTime = now
		tx.UpsertEval(e)
		out = append(out, e)
	}
	return out
}

// refreshJobStatus recomputes a job's status after its allocations changed.
func refreshJobStatus(tx *state.Txn, index uint64, now int64, ns, id string) {
	job := tx.Job(ns, id)
	if job == nil {
		return
	}
	if s := jobStatus(tx, job); s != job.Status {
		upd := proto.Clone(job).(*structs.Job)
		setJobStatus(upd, s, now)
		upd.ModifyIndex = index
		tx.UpsertJob(upd)
	}
}

// setJobStatus records a status and, when it changes, when it did: the
// time garbage collection measures a dead job's age from.
func setJobStatus(job *structs.Job, status string, now int64) {
	if job.Status != status || job.StatusUpdatedAt == 0 {
		job.StatusUpdatedAt = now
	}
	job.Status = status
}

// applyGCReap removes collected objects.
func applyGCReap(tx *state.Txn, c *structs.GCReap) {
	for _, id := range c.AllocIds {
		tx.DeleteAlloc(id)
	}
	for _, id := range c.EvalIds {
		tx.DeleteEval(id)
	}
	for _, j := range c.Jobs {
		tx.DeleteJob(j.Namespace, j.Id)
	}
	for _, id := range c.NodeIds {
		tx.DeleteNode(id)
	}
}

// jobStatus is running while any allocation is not terminal, dead once a
// stopped job (or a batch job that has run) has nothing left, else pending.
func jobStatus(tx *state.Txn, job *structs.Job) string {
	allocs := tx.AllocsByJob(job.Namespace, job.Id)
	for _, a := range allocs {
		if !a.ClientTerminal() && a.DesiredStatus == structs.AllocDesiredRun {
			return structs.JobStatusRunning
		}
	}
	if job.Stop {
		return structs.JobStatusDead
	}
	if (job.Type == structs.JobTypeBatch || job.Type == structs.JobTypeSysBatch) && len(allocs) > 0 {
		return structs.JobStatusDead
	}
	return structs.JobStatusPending
}

package server

import (
	"fmt"
	"maps"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// applyListener hears about applied changes that leader-only services react
// to. The FSM calls it on every server; the server ignores it unless it leads.
type applyListener interface {
	// evalsApplied is called with evaluations as stored.
	evalsApplied(evals []*structs.Evaluation)
	// capacityChanged is called when a node or allocation change at index
	// may let blocked evaluations place; classes are the computed classes
	// of the nodes concerned ("" when unknown: wake every blocked one).
	capacityChanged(index uint64, classes map[string]bool)
	// schedulerConfigChanged is called with the newly stored configuration.
	schedulerConfigChanged(c *structs.SchedulerConfiguration)
	// eventsAt is called right after each command is applied, with the
	// state as the command left it; it returns the command's events.
	eventsAt(r objectReader, index uint64, cmd *structs.LogCommand) []events.Event
	// entryApplied is called after every applied command, once the state
	// holding it is committed, with the events eventsAt returned.
	entryApplied(index uint64, cmd *structs.LogCommand, evs []events.Event)
	// stateRestored is called when a raft snapshot or an operator restore
	// replaced the whole state at index.
	stateRestored(index uint64)
}

// fsm applies committed raft commands to the state store: it is the raft
// node's FSM. It runs on the raft goroutine only; every server applies the
// same commands in the same order.
type fsm struct {
	state    *state.Store
	listener applyListener
	restores restoreState
}

// Apply applies the command committed at index; the error is handed to
// the proposer, if it waits on this server.
func (f *fsm) Apply(index uint64, cmd *structs.LogCommand) error {
	return f.ApplyBatch([]raft.Command{{Index: index, Cmd: cmd}})[0]
}

// ApplyBatch applies consecutive committed commands in one state
// transaction, committed at the last one's index: each command still
// stamps what it changes with its own index, and its events are read from
// the transaction as it left it. An operator restore, which replaces the
// whole state, applies on its own. The listener hears of every command,
// in order, once the transaction holding it is committed.
func (f *fsm) ApplyBatch(cmds []raft.Command) []error {
	errs := make([]error, len(cmds))
	var (
		tx   *state.Txn
		done []appliedCommand
	)
	commit := func() {
		if tx == nil {
			return
		}
		tx.Commit(done[len(done)-1].index)
		tx = nil
		for _, a := range done {
			f.notify(a)
		}
		done = done[:0]
	}
	for i, c := range cmds {
		if r, ok := c.Cmd.Command.(*structs.LogCommand_StateRestore); ok {
			commit()
			if f.applyStateRestore(c.Index, r.StateRestore) && f.listener != nil {
				f.listener.stateRestored(c.Index)
			}
			continue
		}
		if tx == nil {
			tx = f.state.Begin()
		}
		a := f.applyIn(tx, c.Index, c.Cmd)
		if f.listener != nil {
			a.events = f.listener.eventsAt(tx, c.Index, c.Cmd)
		}
		errs[i] = a.err
		done = append(done, a)
	}
	commit()
	return errs
}

// appliedCommand is what applying one command did, for the listener.
type appliedCommand struct {
	index    uint64
	cmd      *structs.LogCommand
	evals    []*structs.Evaluation
	capacity map[string]bool
	config   *structs.SchedulerConfiguration
	events   []events.Event
	err      error
}

// notify tells the listener what a committed command did.
func (f *fsm) notify(a appliedCommand) {
	if f.listener == nil {
		return
	}
	if len(a.evals) > 0 {
		f.listener.evalsApplied(a.evals)
	}
	if a.capacity != nil {
		f.listener.capacityChanged(a.index, a.capacity)
	}
	if a.config != nil {
		f.listener.schedulerConfigChanged(a.config)
	}
	f.listener.entryApplied(a.index, a.cmd, a.events)
}

// applyIn applies one command within tx.
func (f *fsm) applyIn(tx *state.Txn, index uint64, cmd *structs.LogCommand) appliedCommand {
	a := appliedCommand{index: index, cmd: cmd}
	switch c := cmd.Command.(type) {
	case *structs.LogCommand_JobUpsert:
		a.evals, a.err = f.applyJobUpsert(tx, index, cmd.Time, c.JobUpsert)
	case *structs.LogCommand_JobDelete:
		a.evals, a.err = f.applyJobDelete(tx, index, cmd.Time, c.JobDelete)
	case *structs.LogCommand_NodeUpsert:
		a.evals, a.capacity = f.applyNodeUpsert(tx, index, cmd.Time, c.NodeUpsert)
	case *structs.LogCommand_NodeUpsertBatch:
		for _, u := range c.NodeUpsertBatch.GetUpserts() {
			evals, capacity := f.applyNodeUpsert(tx, index, cmd.Time, u)
			a.evals = append(a.evals, evals...)
			if len(capacity) > 0 && a.capacity == nil {
				a.capacity = map[string]bool{}
			}
			maps.Copy(a.capacity, capacity)
		}
	case *structs.LogCommand_NodeStatus:
		a.evals, a.capacity = f.applyNodeStatus(tx, index, cmd.Time, c.NodeStatus)
	case *structs.LogCommand_NodeDisconnectExpiry:
		a.evals, a.capacity = f.applyNodeDisconnectExpiry(tx, index, cmd.Time, c.NodeDisconnectExpiry)
	case *structs.LogCommand_EvalUpsert:
		a.evals = upsertEvals(tx, index, cmd.Time, c.EvalUpsert.Evals)
	case *structs.LogCommand_PlanApply:
		a.evals, a.capacity = f.applyPlan(tx, index, cmd.Time, c.PlanApply)
	case *structs.LogCommand_AllocClientUpdate:
		a.capacity = f.applyAllocClientUpdate(tx, index, cmd.Time, c.AllocClientUpdate)
		a.evals = upsertEvals(tx, index, cmd.Time, c.AllocClientUpdate.Evals)
	case *structs.LogCommand_GcReap:
		applyGCReap(tx, c.GcReap)
	case *structs.LogCommand_SchedulerConfigSet:
		a.config, a.err = applySchedulerConfig(tx, index, c.SchedulerConfigSet)
	case *structs.LogCommand_NodeEligibility:
		var became bool
		a.evals, became = applyNodeEligibility(tx, index, cmd.Time, c.NodeEligibility)
		if became {
			a.capacity = map[string]bool{tx.Node(c.NodeEligibility.NodeId).GetComputedClass(): true}
		}
	case *structs.LogCommand_AllocTransition:
		a.evals = f.applyAllocTransition(tx, index, cmd.Time, c.AllocTransition)
	case *structs.LogCommand_NodeDrain:
		a.evals = f.applyNodeDrain(tx, index, cmd.Time, c.NodeDrain)
		if c.NodeDrain.Eligibility == structs.NodeEligible {
			a.capacity = map[string]bool{tx.Node(c.NodeDrain.NodeId).GetComputedClass(): true}
		}
	case *structs.LogCommand_AclPolicyUpsert:
		applyACLPolicyUpsert(tx, index, c.AclPolicyUpsert)
	case *structs.LogCommand_AclPolicyDelete:
		applyACLPolicyDelete(tx, c.AclPolicyDelete)
	case *structs.LogCommand_AclTokenUpsert:
		a.err = applyACLTokenUpsert(tx, index, c.AclTokenUpsert)
	case *structs.LogCommand_AclTokenDelete:
		applyACLTokenDelete(tx, c.AclTokenDelete)
	case *structs.LogCommand_AclBootstrap:
		a.err = applyACLBootstrap(tx, index, c.AclBootstrap)
	case *structs.LogCommand_ServerSecretSet:
		applyServerSecret(tx, c.ServerSecretSet)
	case *structs.LogCommand_NodeMetaUpdate:
		a.evals, a.capacity = applyNodeMetaUpdate(tx, index, cmd.Time, c.NodeMetaUpdate)
	case *structs.LogCommand_NodePurge:
		a.evals, a.capacity = applyNodePurge(tx, index, cmd.Time, c.NodePurge)
	case *structs.LogCommand_AutopilotConfigSet:
		a.err = applyAutopilotConfig(tx, index, c.AutopilotConfigSet)
	case *structs.LogCommand_SummariesReconcile:
		tx.RebuildSummaries()
	case *structs.LogCommand_DeploymentStatus:
		a.evals = f.applyDeploymentStatus(tx, index, cmd.Time, c.DeploymentStatus)
	case *structs.LogCommand_DeploymentPromote:
		a.evals, a.err = f.applyDeploymentPromote(tx, index, cmd.Time, c.DeploymentPromote)
	case *structs.LogCommand_DeploymentAllocHealth:
		a.evals, a.err = f.applyDeploymentAllocHealth(tx, index, cmd.Time, c.DeploymentAllocHealth)
	case *structs.LogCommand_JobStability:
		a.err = applyJobStability(tx, index, c.JobStability)
	case *structs.LogCommand_ServiceRegistrationUpsert:
		applyServiceUpsert(tx, index, c.ServiceRegistrationUpsert)
	case *structs.LogCommand_ServiceRegistrationDelete:
		applyServiceDelete(tx, c.ServiceRegistrationDelete)
	case *structs.LogCommand_VariableUpsert:
		a.err = applyVariableUpsert(tx, index, cmd.Time, c.VariableUpsert)
	case *structs.LogCommand_VariableDelete:
		a.err = applyVariableDelete(tx, c.VariableDelete)
	case *structs.LogCommand_RootKeyUpsert:
		a.err = applyRootKeyUpsert(tx, index, cmd.Time, c.RootKeyUpsert)
	case *structs.LogCommand_RootKeyDelete:
		applyRootKeyDelete(tx, c.RootKeyDelete)
	case *structs.LogCommand_JobDispatch:
		a.evals, a.err = f.applyJobDispatch(tx, index, cmd.Time, c.JobDispatch)
	case *structs.LogCommand_PeriodicLaunch:
		a.evals, a.err = f.applyPeriodicLaunch(tx, index, cmd.Time, c.PeriodicLaunch)
	case *structs.LogCommand_JobScale:
		a.evals, a.err = f.applyJobScale(tx, index, cmd.Time, c.JobScale)
	case nil:
		// A barrier: nothing to change, but the index moves.
	default:
		a.err = fmt.Errorf("fsm: unknown command %T at %d", c, index)
	}
	return a
}

// applyJobUpsert stores a job. A job whose specification did not change
// keeps its version and job_modify_index, so its allocations stay current;
// a changed one becomes a new version, recorded in the history.
func (f *fsm) applyJobUpsert(tx *state.Txn, index uint64, now int64, c *structs.JobUpsert) ([]*structs.Evaluation, error) {
	job := c.Job
	if job == nil {
		return nil, nil
	}
	old := tx.Job(job.Namespace, job.Id)
	if err := checkJobIndex(c, old); err != nil {
		return nil, err
	}
	switch {
	case old == nil:
		job.CreateIndex, job.Version, job.JobModifyIndex = index, 0, index
	case structs.SpecEqual(old, job):
		job.CreateIndex, job.Version, job.JobModifyIndex = old.CreateIndex, old.Version, old.JobModifyIndex
		job.SubmitTime = old.SubmitTime
	default:
		job.CreateIndex, job.Version, job.JobModifyIndex = old.CreateIndex, old.Version+1, index
	}
	job.ModifyIndex = index
	if job.SubmitTime == 0 {
		job.SubmitTime = now
	}
	job.Status, job.StatusUpdatedAt = old.GetStatus(), old.GetStatusUpdatedAt()
	state.SetJobStatus(job, tx.JobStatus(job), now)
	tx.UpsertJobVersion(job, int(c.TrackedVersions))
	if job.IsPeriodic() && tx.PeriodicLaunch(job.Namespace, job.Id) == nil {
		// Launches start after the registration, never before it.
		tx.SetPeriodicLaunch(&structs.PeriodicLaunch{Namespace: job.Namespace, JobId: job.Id, Launch: now, ModifyIndex: index})
	}
	if c.Eval == nil {
		return nil, nil
	}
	eval := c.Eval
	eval.JobModifyIndex = job.JobModifyIndex
	return upsertEvals(tx, index, now, []*structs.Evaluation{eval}), nil
}

// applyJobDelete stops or purges a job. Whether the job exists is decided
// here, as the entry applies, so concurrent deregistrations of one job see
// it exactly once: the later ones find nothing and change nothing.
func (f *fsm) applyJobDelete(tx *state.Txn, index uint64, now int64, c *structs.JobDelete) ([]*structs.Evaluation, error) {
	cur := tx.Job(c.Namespace, c.JobId)
	if cur == nil {
		return nil, fmt.Errorf("%w: job %s in namespace %s", structs.ErrNotFound, structs.Quote(c.JobId), structs.Quote(c.Namespace))
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
		state.SetJobStatus(job, tx.JobStatus(job), now)
		tx.UpsertJobVersion(job, int(c.TrackedVersions))
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

func (f *fsm) applyNodeUpsert(tx *state.Txn, index uint64, now int64, c *structs.NodeUpsert) ([]*structs.Evaluation, map[string]bool) {
	node := c.Node
	if node == nil {
		return nil, nil
	}
	overlayDynamicMeta(node, tx.Node(node.Id))
	node.ComputedClass = structs.ComputeNodeClass(node)
	classes := map[string]bool{node.ComputedClass: true}
	if old := tx.Node(node.Id); old != nil {
		node.CreateIndex = old.CreateIndex
		if node.SchedulingEligibility == "" {
			node.SchedulingEligibility = old.SchedulingEligibility
		}
		if node.DrainStrategy == nil {
			node.DrainStrategy = old.DrainStrategy
		}
		classes[old.ComputedClass] = true
	} else {
		node.CreateIndex = index
	}
	if node.SchedulingEligibility == "" {
		node.SchedulingEligibility = structs.NodeEligible
	}
	node.ModifyIndex = index
	node.StatusUpdatedAt = now
	tx.UpsertNode(node)
	return upsertEvals(tx, index, now, c.Evals), classes
}

func (f *fsm) applyNodeStatus(tx *state.Txn, index uint64, now int64, c *structs.NodeStatusUpdate) ([]*structs.Evaluation, map[string]bool) {
	old := tx.Node(c.NodeId)
	if old == nil {
		return nil, nil
	}
	node := proto.Clone(old).(*structs.Node)
	node.Status = c.Status
	switch c.Status {
	case structs.NodeStatusDown:
		// Everything the node ran is lost; the evaluations replace it.
		markLost(tx, index, now, c.NodeId, "node is down", func(*structs.Allocation) bool { return true })
	case structs.NodeStatusDisconnected:
		// Allocations with a disconnect window wait for the node; the
		// others are lost. With none waiting, the node is simply down.
		if disconnectAllocs(tx, index, now, c.NodeId) == 0 {
			node.Status = structs.NodeStatusDown
		}
	}
	node.ModifyIndex = index
	node.StatusUpdatedAt = now
	tx.UpsertNode(node)
	return upsertEvals(tx, index, now, c.Evals), map[string]bool{node.ComputedClass: true}
}

// applyPlan commits a plan result. Placements travel without their job
// (it would be repeated in every one); the entry carries it once.
func (f *fsm) applyPlan(tx *state.Txn, index uint64, now int64, c *structs.PlanApply) ([]*structs.Evaluation, map[string]bool) {
	res := c.GetResult()
	tx.ApplyPlanResult(res, c.Job, index, now)
	var capacity map[string]bool
	if len(res.GetNodeUpdate())+len(res.GetNodePreemptions()) > 0 {
		capacity = map[string]bool{}
		for _, list := range [][]*structs.Allocation{res.GetNodeUpdate(), res.GetNodePreemptions()} {
			for _, a := range list {
				if n := tx.Node(a.NodeId); n != nil {
					capacity[n.ComputedClass] = true
				}
			}
		}
	}
	var evals []*structs.Evaluation
	if c.Eval != nil {
		evals = append(evals, c.Eval)
	}
	return upsertEvals(tx, index, now, append(evals, c.NewEvals...)), capacity
}

// applyAllocClientUpdate records what a client reports; it returns the
// classes of the nodes where an allocation became terminal, freeing capacity.
func (f *fsm) applyAllocClientUpdate(tx *state.Txn, index uint64, now int64, c *structs.AllocClientUpdate) map[string]bool {
	var freed map[string]bool
	jobs := map[[2]string]bool{}
	for _, a := range c.Allocations {
		cur := tx.Alloc(a.Id)
		if cur == nil {
			continue
		}
		upd := state.CloneAlloc(cur)
		upd.ClientStatus = state.Intern(a.ClientStatus)
		upd.ClientDescription = state.Intern(a.ClientDescription)
		state.InternTaskStates(a.TaskStates) // decoded from the entry: the FSM's own
		upd.TaskStates = a.TaskStates
		upd.ModifyIndex = index
		upd.ModifyTime = now
		applyAllocHealth(tx, index, now, a, upd, cur)
		if !cur.ClientTerminal() && upd.ClientTerminal() {
			if freed == nil {
				freed = map[string]bool{}
			}
			if n := tx.Node(upd.NodeId); n != nil {
				freed[n.ComputedClass] = true
			}
		}
		tx.ReportAlloc(upd, cur)
		tx.TrackDeploymentAlloc(index, now, upd, cur)
		jobs[[2]string{upd.Namespace, upd.JobId}] = true
	}
	for k := range jobs {
		tx.RefreshJobStatus(index, now, k[0], k[1])
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
	for _, a := range c.AclTokenAccessors {
		tx.DeleteACLToken(a)
	}
	for _, id := range c.DeploymentIds {
		tx.DeleteDeployment(id)
	}
}

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
	// may let blocked evaluations place; classes are the computed classes
	// of the nodes concerned ("" when unknown: wake every blocked one).
	capacityChanged(index uint64, classes map[string]bool)
	// schedulerConfigChanged is called with the newly stored configuration.
	schedulerConfigChanged(c *structs.SchedulerConfiguration)
	// entryApplied is called after every applied command, with the state
	// store at index (the event broker publishes from it).
	entryApplied(index uint64, cmd *structs.LogCommand)
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
	if c, ok := cmd.Command.(*structs.LogCommand_StateRestore); ok {
		if f.applyStateRestore(index, c.StateRestore) && f.listener != nil {
			f.listener.stateRestored(index)
		}
		return nil
	}
	tx := f.state.Begin()
	var (
		evals    []*structs.Evaluation
		capacity map[string]bool
		config   *structs.SchedulerConfiguration
		applyErr error
	)
	switch c := cmd.Command.(type) {
	case *structs.LogCommand_JobUpsert:
		evals, applyErr = f.applyJobUpsert(tx, index, cmd.Time, c.JobUpsert)
	case *structs.LogCommand_JobDelete:
		evals, applyErr = f.applyJobDelete(tx, index, cmd.Time, c.JobDelete)
	case *structs.LogCommand_NodeUpsert:
		evals, capacity = f.applyNodeUpsert(tx, index, cmd.Time, c.NodeUpsert)
	case *structs.LogCommand_NodeStatus:
		evals, capacity = f.applyNodeStatus(tx, index, cmd.Time, c.NodeStatus)
	case *structs.LogCommand_NodeDisconnectExpiry:
		evals, capacity = f.applyNodeDisconnectExpiry(tx, index, cmd.Time, c.NodeDisconnectExpiry)
	case *structs.LogCommand_EvalUpsert:
		evals = upsertEvals(tx, index, cmd.Time, c.EvalUpsert.Evals)
	case *structs.LogCommand_PlanApply:
		evals, capacity = f.applyPlan(tx, index, cmd.Time, c.PlanApply)
	case *structs.LogCommand_AllocClientUpdate:
		capacity = f.applyAllocClientUpdate(tx, index, cmd.Time, c.AllocClientUpdate)
		evals = upsertEvals(tx, index, cmd.Time, c.AllocClientUpdate.Evals)
	case *structs.LogCommand_GcReap:
		applyGCReap(tx, c.GcReap)
	case *structs.LogCommand_SchedulerConfigSet:
		config, applyErr = applySchedulerConfig(tx, index, c.SchedulerConfigSet)
	case *structs.LogCommand_NodeEligibility:
		var became bool
		evals, became = applyNodeEligibility(tx, index, cmd.Time, c.NodeEligibility)
		if became {
			capacity = map[string]bool{tx.Node(c.NodeEligibility.NodeId).GetComputedClass(): true}
		}
	case *structs.LogCommand_AllocTransition:
		evals = f.applyAllocTransition(tx, index, cmd.Time, c.AllocTransition)
	case *structs.LogCommand_NodeDrain:
		evals = f.applyNodeDrain(tx, index, cmd.Time, c.NodeDrain)
		if c.NodeDrain.Eligibility == structs.NodeEligible {
			capacity = map[string]bool{tx.Node(c.NodeDrain.NodeId).GetComputedClass(): true}
		}
	case *structs.LogCommand_AclPolicyUpsert:
		applyACLPolicyUpsert(tx, index, c.AclPolicyUpsert)
	case *structs.LogCommand_AclPolicyDelete:
		applyACLPolicyDelete(tx, c.AclPolicyDelete)
	case *structs.LogCommand_AclTokenUpsert:
		applyErr = applyACLTokenUpsert(tx, index, c.AclTokenUpsert)
	case *structs.LogCommand_AclTokenDelete:
		applyACLTokenDelete(tx, c.AclTokenDelete)
	case *structs.LogCommand_AclBootstrap:
		applyErr = applyACLBootstrap(tx, index, c.AclBootstrap)
	case *structs.LogCommand_ServerSecretSet:
		applyServerSecret(tx, c.ServerSecretSet)
	case *structs.LogCommand_NodeMetaUpdate:
		evals, capacity = applyNodeMetaUpdate(tx, index, cmd.Time, c.NodeMetaUpdate)
	case *structs.LogCommand_NodePurge:
		evals, capacity = applyNodePurge(tx, index, cmd.Time, c.NodePurge)
	case *structs.LogCommand_AutopilotConfigSet:
		applyErr = applyAutopilotConfig(tx, index, c.AutopilotConfigSet)
	case *structs.LogCommand_SummariesReconcile:
		tx.RebuildSummaries()
	case *structs.LogCommand_DeploymentStatus:
		evals = f.applyDeploymentStatus(tx, index, cmd.Time, c.DeploymentStatus)
	case *structs.LogCommand_DeploymentPromote:
		evals, applyErr = f.applyDeploymentPromote(tx, index, cmd.Time, c.DeploymentPromote)
	case *structs.LogCommand_DeploymentAllocHealth:
		evals, applyErr = f.applyDeploymentAllocHealth(tx, index, cmd.Time, c.DeploymentAllocHealth)
	case *structs.LogCommand_JobStability:
		applyErr = applyJobStability(tx, index, c.JobStability)
	case *structs.LogCommand_ServiceRegistrationUpsert:
		applyServiceUpsert(tx, index, c.ServiceRegistrationUpsert)
	case *structs.LogCommand_ServiceRegistrationDelete:
		applyServiceDelete(tx, c.ServiceRegistrationDelete)
	case *structs.LogCommand_VariableUpsert:
		applyErr = applyVariableUpsert(tx, index, cmd.Time, c.VariableUpsert)
	case *structs.LogCommand_VariableDelete:
		applyErr = applyVariableDelete(tx, c.VariableDelete)
	case *structs.LogCommand_RootKeyUpsert:
		applyErr = applyRootKeyUpsert(tx, index, cmd.Time, c.RootKeyUpsert)
	case *structs.LogCommand_RootKeyDelete:
		applyRootKeyDelete(tx, c.RootKeyDelete)
	case *structs.LogCommand_JobDispatch:
		evals, applyErr = f.applyJobDispatch(tx, index, cmd.Time, c.JobDispatch)
	case *structs.LogCommand_PeriodicLaunch:
		evals, applyErr = f.applyPeriodicLaunch(tx, index, cmd.Time, c.PeriodicLaunch)
	case *structs.LogCommand_JobScale:
		evals, applyErr = f.applyJobScale(tx, index, cmd.Time, c.JobScale)
	case nil:
		// A barrier: nothing to change, but the index moves.
	default:
		tx.Commit(index)
		return fmt.Errorf("fsm: unknown command %T at %d", c, index)
	}
	tx.Commit(index)
	if f.listener != nil {
		if len(evals) > 0 {
			f.listener.evalsApplied(evals)
		}
		if capacity != nil {
			f.listener.capacityChanged(index, capacity)
		}
		if config != nil {
			f.listener.schedulerConfigChanged(config)
		}
		f.listener.entryApplied(index, cmd)
	}
	return applyErr
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
		upd.ClientStatus = a.ClientStatus
		upd.ClientDescription = a.ClientDescription
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
		tx.UpsertAlloc(upd)
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

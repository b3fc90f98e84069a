package server

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// DispatchRequest is one dispatch of a parameterized job.
type DispatchRequest struct {
	Namespace, JobID string
	// Payload is handed to the child's tasks (dispatch_payload); at most
	// structs.DispatchPayloadSizeLimit bytes.
	Payload []byte
	// Meta is merged over the parent's meta; its keys must be declared by
	// the parent's meta_required or meta_optional.
	Meta map[string]string
	// IdempotencyToken, when set, makes a repeated dispatch with the same
	// token return the child the first one created.
	IdempotencyToken string
	// IDPrefix, when set, goes into the child's id:
	// <parent>/dispatch-<prefix>-<unix>-<8 hex>.
	IDPrefix string
	// Priority, when set, replaces the parent's priority for the child.
	Priority int32
}

// DispatchJob creates a child of a parameterized job that runs once, with
// the request's payload and meta. A dispatch that breaks the parent's
// rules (a missing required meta key, a forbidden payload, an undeclared
// key, a payload over the limit) is refused whole with a
// *structs.ValidationError naming each problem, and changes nothing. It
// needs dispatch-job.
func (s *Server) DispatchJob(ctx context.Context, req DispatchRequest) (*structs.JobDispatchResponse, error) {
	req.Namespace = orDefault(req.Namespace)
	if err := s.allowNamespace(ctx, req.Namespace, acl.NamespaceCapabilityDispatchJob); err != nil {
		return nil, err
	}
	var resp *structs.JobDispatchResponse
	err := s.leaderCall(ctx, func(ctx context.Context) (err error) {
		resp, err = s.dispatchOnLeader(ctx, req)
		return err
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.DispatchJob(ctx, &structs.JobDispatchRequest{
			Namespace: req.Namespace, JobId: req.JobID, Payload: req.Payload, Meta: req.Meta, IdempotencyToken: req.IdempotencyToken,
			IdPrefix: req.IDPrefix, Priority: req.Priority,
		})
		return err
	})
	return resp, err
}

func (s *Server) dispatchOnLeader(ctx context.Context, req DispatchRequest) (*structs.JobDispatchResponse, error) {
	snap := s.state.Snapshot()
	parent := snap.Job(req.Namespace, req.JobID)
	if parent == nil {
		return nil, fmt.Errorf("%w: job %s in namespace %s", ErrNotFound, structs.Quote(req.JobID), structs.Quote(req.Namespace))
	}
	if !parent.IsParameterized() {
		return nil, fmt.Errorf("%w: job %s is not parameterized", ErrBadRequest, structs.Quote(req.JobID))
	}
	if parent.Stop {
		return nil, fmt.Errorf("%w: job %s is stopped: it dispatches nothing", ErrBadRequest, structs.Quote(req.JobID))
	}
	if err := parent.ValidateDispatch(req.Payload, req.Meta); err != nil {
		return nil, err
	}
	if err := s.checkDispatchOptions(req); err != nil {
		return nil, err
	}
	if req.IdempotencyToken != "" {
		if prior := findDispatched(snap, parent, req.IdempotencyToken); prior != nil {
			return dispatchedResponse(snap, prior, snap.Index()), nil
		}
	}
	now := s.cfg.Clock()
	suffix := strconv.FormatInt(now.Unix(), 10) + "-" + uuid.NewString()[:8]
	if req.IDPrefix != "" {
		suffix = req.IDPrefix + "-" + suffix
	}
	child := childJob(parent, parent.Id+structs.DispatchLaunchSuffix+suffix)
	if req.Priority != 0 {
		child.Priority = req.Priority
	}
	child.Dispatched = true
	child.Payload = req.Payload
	child.DispatchIdempotencyToken = req.IdempotencyToken
	if len(req.Meta) > 0 {
		child.Meta = maps.Clone(child.Meta)
		if child.Meta == nil {
			child.Meta = map[string]string{}
		}
		maps.Copy(child.Meta, req.Meta)
	}
	eval := newEval(child, structs.EvalTriggerJobRegister)
	idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_JobDispatch{JobDispatch: &structs.JobDispatch{
		Child: child, Eval: eval, TrackedVersions: s.trackedVersions(),
	}}})
	if err != nil {
		return nil, err
	}
	s.metrics.jobsRegistered.Inc()
	after := s.state.Snapshot()
	if req.IdempotencyToken != "" {
		// A concurrent dispatch with the same token may have won.
		if prior := findDispatched(after, parent, req.IdempotencyToken); prior != nil && prior.Id != child.Id {
			return dispatchedResponse(after, prior, idx), nil
		}
	}
	return &structs.JobDispatchResponse{DispatchedJobId: child.Id, EvalId: eval.Id, JobCreateIndex: idx, Meta: &structs.WriteMeta{Index: idx}}, nil
}

// maxIdempotencyToken bounds a dispatch's idempotency token.
const maxIdempotencyToken = 256

// checkDispatchOptions checks a dispatch's id prefix and priority.
func (s *Server) checkDispatchOptions(req DispatchRequest) error {
	var problems []string
	if req.IDPrefix != "" && (len(req.IDPrefix) > 64 || !structs.ValidID(req.IDPrefix)) {
		problems = append(problems, fmt.Sprintf("dispatch of job %s: id prefix %s may hold only up to 64 letters, digits, '_', '-' and '.'",
			structs.Quote(req.JobID), structs.Quote(req.IDPrefix)))
	}
	if len(req.IdempotencyToken) > maxIdempotencyToken {
		problems = append(problems, fmt.Sprintf("dispatch of job %s: idempotency token is longer than %d bytes", structs.Quote(req.JobID), maxIdempotencyToken))
	}
	if p := req.Priority; p != 0 && (p < 1 || int(p) > s.cfg.JobMaxPriority) {
		problems = append(problems, fmt.Sprintf("dispatch of job %s: priority %d is outside 1..%d", structs.Quote(req.JobID), p, s.cfg.JobMaxPriority))
	}
	if len(problems) > 0 {
		return &structs.ValidationError{Problems: problems}
	}
	return nil
}

// findDispatched finds the parent's child dispatched with token.
func findDispatched(snap *state.Snapshot, parent *structs.Job, token string) *structs.Job {
	var found *structs.Job
	snap.EachJobChild(parent.Namespace, parent.Id, func(j *structs.Job) bool {
		if j.DispatchIdempotencyToken == token {
			found = j
		}
		return found == nil
	})
	return found
}

// dispatchedResponse answers a repeated dispatch with the first child and
// the evaluation its dispatch created.
func dispatchedResponse(snap *state.Snapshot, child *structs.Job, index uint64) *structs.JobDispatchResponse {
	resp := &structs.JobDispatchResponse{DispatchedJobId: child.Id, JobCreateIndex: child.CreateIndex, Meta: &structs.WriteMeta{Index: index}}
	for _, e := range snap.EvalsByJob(child.Namespace, child.Id) {
		if e.CreateIndex == child.CreateIndex {
			resp.EvalId = e.Id
		}
	}
	return resp
}

// childJob derives a child from a periodic or parameterized parent: a
// copy of the parent that is neither, under id.
func childJob(parent *structs.Job, id string) *structs.Job {
	child := state.CloneJob(parent)
	child.Id, child.Name, child.ParentId = id, id, parent.Id
	child.Periodic, child.Parameterized = nil, nil
	child.Status, child.StatusUpdatedAt, child.Stable, child.Stop = "", 0, false, false
	child.Version, child.CreateIndex, child.ModifyIndex, child.JobModifyIndex, child.SubmitTime = 0, 0, 0, 0, 0
	return child
}

// ForcePeriodic launches a child of a periodic job now, whatever its
// schedule (and its prohibit_overlap). It needs submit-job or
// force-periodic-job.
func (s *Server) ForcePeriodic(ctx context.Context, namespace, jobID string) (*structs.PeriodicForceResponse, error) {
	namespace = orDefault(namespace)
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityForcePeriodicJob); err != nil {
		return nil, err
	}
	var resp *structs.PeriodicForceResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		parent := s.job(namespace, jobID)
		if parent == nil {
			return fmt.Errorf("%w: job %s in namespace %s", ErrNotFound, structs.Quote(jobID), structs.Quote(namespace))
		}
		if !parent.IsPeriodic() {
			return fmt.Errorf("%w: job %s is not periodic", ErrBadRequest, structs.Quote(jobID))
		}
		if parent.Stop {
			return fmt.Errorf("%w: job %s is stopped: it launches nothing", ErrBadRequest, structs.Quote(jobID))
		}
		cmd := periodicLaunch(parent, s.cfg.Clock(), true, s.trackedVersions())
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_PeriodicLaunch{PeriodicLaunch: cmd}})
		if err != nil {
			return err
		}
		resp = &structs.PeriodicForceResponse{ChildId: cmd.Child.Id, Meta: &structs.WriteMeta{Index: idx}}
		if c := s.job(namespace, cmd.Child.Id); c != nil && c.CreateIndex == idx {
			resp.EvalId = cmd.Eval.Id
		} else if c != nil {
			resp.EvalId = dispatchedResponse(s.state.Snapshot(), c, idx).EvalId
		}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.ForcePeriodic(ctx, &structs.PeriodicForceRequest{Namespace: namespace, JobId: jobID})
		return err
	})
	return resp, err
}

// periodicLaunch builds the entry that launches parent's child for the
// launch time at (a forced launch: now).
func periodicLaunch(parent *structs.Job, at time.Time, force bool, tracked uint32) *structs.PeriodicLaunchCommand {
	child := childJob(parent, parent.Id+structs.PeriodicLaunchSuffix+strconv.FormatInt(at.Unix(), 10))
	return &structs.PeriodicLaunchCommand{
		Namespace: parent.Namespace, JobId: parent.Id, Launch: at.UnixNano(), Force: force,
		Child: child, Eval: newEval(child, structs.EvalTriggerPeriodicJob), TrackedVersions: tracked,
	}
}

// JobChildren lists the children of a periodic or parameterized job.
func (s *Server) JobChildren(ctx context.Context, namespace, jobID string) ([]*structs.Job, error) {
	namespace = orDefault(namespace)
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	snap := s.state.Snapshot()
	if snap.Job(namespace, jobID) == nil {
		return nil, fmt.Errorf("%w: job %s in namespace %s", ErrNotFound, structs.Quote(jobID), structs.Quote(namespace))
	}
	return snap.JobChildren(namespace, jobID), nil
}

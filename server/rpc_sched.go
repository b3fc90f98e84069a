package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/server/broker"
	"github.com/droverhq/drover/structs"
)

// The leader's side of the other servers' scheduler workers (see
// worker_remote.go). Only servers of the region call these: with mutual
// TLS the peer needs a server certificate (peer_check.go), and every call
// must carry the region's server secret, which only servers hold, whether
// ACLs are on or not: a client, or anyone with a mere ACL token, even a
// management one, is refused.

// schedCall checks a scheduling RPC's caller and that this server leads.
func (r *rpcServer) schedCall(ctx context.Context) error {
	s := r.s
	if _, isToken := tokenOf(ctx); isToken {
		s.metrics.aclDenied.Inc()
		return rpcerr.To(errDenied("only the servers of the region take part in scheduling"))
	}
	if !s.raft.IsLeader() {
		return rpcerr.To(fmt.Errorf("%w: %s", ErrNotLeader, s.cfg.Name))
	}
	return nil
}

// outstanding returns the evaluation id holds with token, or a refusal.
func (r *rpcServer) outstanding(id, token string) (*structs.Evaluation, error) {
	e, ok := r.s.broker.Outstanding(id, token)
	if !ok {
		return nil, rpcerr.To(fmt.Errorf("%w: evaluation %s: %w", ErrBadRequest, id, errNotOutstanding))
	}
	return e, nil
}

// DequeueEval hands a ready evaluation of the asked types to a worker of
// another server, waiting up to the asked timeout; the answer has no
// evaluation when none came. Core evaluations stay with the leader.
func (r *rpcServer) DequeueEval(ctx context.Context, req *structs.EvalDequeueRequest) (*structs.EvalDequeueResponse, error) {
	if err := r.schedCall(ctx); err != nil {
		return nil, err
	}
	s := r.s
	types := map[string]bool{}
	for _, t := range req.GetTypes() {
		if t != coreEvalType {
			types[t] = true
		}
	}
	if len(types) == 0 {
		return nil, rpcerr.To(fmt.Errorf("%w: no evaluation types asked for", ErrBadRequest))
	}
	wait := time.Duration(req.GetTimeoutMs()) * time.Millisecond
	if wait <= 0 {
		wait = dequeuePoll
	}
	dctx, cancel := context.WithTimeout(ctx, min(wait, maxDequeuePoll))
	defer cancel()
	e, token, err := s.broker.DequeueLeased(dctx, types)
	switch {
	case errors.Is(err, broker.ErrDisabled):
		return nil, rpcerr.To(fmt.Errorf("%w: %s is not scheduling (not or no longer the leader)", ErrNotLeader, s.cfg.Name))
	case err != nil && ctx.Err() == nil:
		return &structs.EvalDequeueResponse{}, nil // none within the timeout
	case err != nil:
		return nil, rpcerr.To(ctx.Err())
	}
	if ctx.Err() != nil {
		// The caller is gone: hand the evaluation back at once instead of
		// waiting for its lease to run out.
		_ = s.broker.Nack(e.Id, token)
		return nil, rpcerr.To(ctx.Err())
	}
	s.logger.Debug("evaluation handed to another server's worker", "eval", e.Id, "job", e.JobId, "server", req.GetServer())
	return &structs.EvalDequeueResponse{
		Eval: e, Token: token, LeaseMs: s.broker.UnackTimeout().Milliseconds(), WaitIndex: s.state.Index(),
	}, nil
}

func (r *rpcServer) AckEval(ctx context.Context, req *structs.EvalTokenRequest) (*structs.GenericResponse, error) {
	if err := r.schedCall(ctx); err != nil {
		return nil, err
	}
	return &structs.GenericResponse{}, rpcerr.To(r.s.broker.Ack(req.GetEvalId(), req.GetToken()))
}

func (r *rpcServer) NackEval(ctx context.Context, req *structs.EvalTokenRequest) (*structs.GenericResponse, error) {
	if err := r.schedCall(ctx); err != nil {
		return nil, err
	}
	return &structs.GenericResponse{}, rpcerr.To(r.s.broker.Nack(req.GetEvalId(), req.GetToken()))
}

func (r *rpcServer) RenewEvalLease(ctx context.Context, req *structs.EvalTokenRequest) (*structs.GenericResponse, error) {
	if err := r.schedCall(ctx); err != nil {
		return nil, err
	}
	return &structs.GenericResponse{}, rpcerr.To(r.s.broker.OutstandingReset(req.GetEvalId(), req.GetToken()))
}

// SubmitPlan hands a plan of an outstanding evaluation to the plan
// applier, which checks it against the latest state as any other. The
// answer carries what the worker uses of the result: the refused nodes,
// the index to refresh its state to, whether the evaluation's outcome
// went in with the plan, and the placements committed, reduced to their
// id and node.
func (r *rpcServer) SubmitPlan(ctx context.Context, req *structs.PlanSubmitRequest) (*structs.PlanSubmitResponse, error) {
	if err := r.schedCall(ctx); err != nil {
		return nil, err
	}
	plan := req.GetPlan()
	if plan == nil {
		return nil, rpcerr.To(fmt.Errorf("%w: no plan", ErrBadRequest))
	}
	e, err := r.outstanding(plan.EvalId, req.GetToken())
	if err != nil {
		return nil, err
	}
	if j := plan.Job; j != nil && (j.Namespace != e.Namespace || j.Id != e.JobId) {
		return nil, rpcerr.To(fmt.Errorf("%w: the plan is for job %s, its evaluation for %s", ErrBadRequest, structs.Quote(j.Id), structs.Quote(e.JobId)))
	}
	if len(plan.EvalUpdates) > 0 {
		if err := checkEvalUpdates(e, plan.EvalUpdates); err != nil {
			return nil, err
		}
	}
	_ = r.s.broker.OutstandingReset(plan.EvalId, req.GetToken())
	planFromWire(plan)
	res, err := r.s.applier.submit(ctx, plan)
	if err != nil {
		return nil, rpcerr.To(err)
	}
	placed := make([]*structs.Allocation, len(res.NodeAllocation))
	for i, a := range res.NodeAllocation {
		placed[i] = &structs.Allocation{Id: a.Id, NodeId: a.NodeId}
	}
	return &structs.PlanSubmitResponse{Result: &structs.PlanResult{
		RefusedNodes: res.RefusedNodes, AllocIndex: res.AllocIndex, EvalsCommitted: res.EvalsCommitted,
		NodeAllocation: placed,
	}}, nil
}

// UpdateEvals records an outstanding evaluation's outcome and the
// evaluations it creates, all of its job, through raft.
func (r *rpcServer) UpdateEvals(ctx context.Context, req *structs.EvalUpdateRequest) (*structs.GenericResponse, error) {
	if err := r.schedCall(ctx); err != nil {
		return nil, err
	}
	e, err := r.outstanding(req.GetEvalId(), req.GetToken())
	if err != nil {
		return nil, err
	}
	evals := req.GetEvals()
	if err := checkEvalUpdates(e, evals); err != nil {
		return nil, err
	}
	idx, err := r.s.raft.Propose(ctx, &structs.LogCommand{
		Command: &structs.LogCommand_EvalUpsert{EvalUpsert: &structs.EvalUpsert{Evals: evals}},
	})
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

// checkEvalUpdates checks a worker's record of evaluation e's outcome: e
// first, then only evaluations of e's job.
func checkEvalUpdates(e *structs.Evaluation, evals []*structs.Evaluation) error {
	if len(evals) == 0 || evals[0].GetId() != e.Id {
		return rpcerr.To(fmt.Errorf("%w: the update must start with evaluation %s", ErrBadRequest, e.Id))
	}
	for _, u := range evals {
		if u.GetNamespace() != e.Namespace || u.GetJobId() != e.JobId {
			return rpcerr.To(fmt.Errorf("%w: evaluation %s is not of job %s", ErrBadRequest, u.GetId(), structs.Quote(e.JobId)))
		}
	}
	return nil
}

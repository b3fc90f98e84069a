package server

import (
	"context"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

// The operator's RPCs: each serves a call another server forwarded to the
// leader, with its caller's token.

func (r *rpcServer) EvaluateJob(ctx context.Context, req *structs.JobEvaluateRequest) (*structs.JobEvaluateResponse, error) {
	id, idx, err := r.s.EvaluateJob(callCtx(ctx, nil), req.GetNamespace(), req.GetJobId(), req.GetForceReschedule())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.JobEvaluateResponse{EvalId: id, Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) UpdateNodeMeta(ctx context.Context, req *structs.NodeMetaRequest) (*structs.GenericResponse, error) {
	idx, err := r.s.UpdateNodeMeta(callCtx(ctx, nil), req.GetNodeId(), req.GetSet(), req.GetUnset())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) PurgeNode(ctx context.Context, req *structs.NodePurgeRequest) (*structs.NodeEligibilityResponse, error) {
	ids, idx, err := r.s.PurgeNode(callCtx(ctx, nil), req.GetNodeId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.NodeEligibilityResponse{EvalIds: ids, Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) TransferLeadership(ctx context.Context, req *structs.TransferLeadershipRequest) (*structs.GenericResponse, error) {
	if err := r.s.TransferLeadership(callCtx(ctx, nil), req.GetId(), req.GetAddress()); err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: r.s.state.Index()}}, nil
}

func (r *rpcServer) SetAutopilotConfiguration(ctx context.Context, req *structs.AutopilotSetConfigRequest) (*structs.AutopilotSetConfigResponse, error) {
	updated, idx, err := r.s.SetAutopilotConfiguration(callCtx(ctx, nil), req.GetConfig(), req.GetCas(), req.GetCasIndex())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.AutopilotSetConfigResponse{Updated: updated, Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) ReconcileJobSummaries(ctx context.Context, _ *structs.Empty) (*structs.GenericResponse, error) {
	idx, err := r.s.ReconcileJobSummaries(callCtx(ctx, nil))
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

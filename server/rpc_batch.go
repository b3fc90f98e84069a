package server

import (
	"context"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

func (r *rpcServer) DispatchJob(ctx context.Context, req *structs.JobDispatchRequest) (*structs.JobDispatchResponse, error) {
	resp, err := r.s.DispatchJob(callCtx(ctx, nil), DispatchRequest{
		Namespace: req.GetNamespace(), JobID: req.GetJobId(), Payload: req.GetPayload(), Meta: req.GetMeta(),
		IdempotencyToken: req.GetIdempotencyToken(), IDPrefix: req.GetIdPrefix(), Priority: req.GetPriority(),
	})
	return resp, rpcerr.To(err)
}

func (r *rpcServer) ForcePeriodic(ctx context.Context, req *structs.PeriodicForceRequest) (*structs.PeriodicForceResponse, error) {
	resp, err := r.s.ForcePeriodic(callCtx(ctx, nil), req.GetNamespace(), req.GetJobId())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) ScaleJob(ctx context.Context, req *structs.JobScaleRequest) (*structs.JobRegisterResponse, error) {
	resp, err := r.s.ScaleJob(callCtx(ctx, nil), ScaleRequest{
		Namespace: req.GetNamespace(), JobID: req.GetJobId(), Group: req.GetGroup(), Count: req.Count,
		Message: req.GetMessage(), Error: req.GetError(), Meta: req.GetMeta().AsMap(),
		EnforceIndex: req.GetEnforceIndex(), JobModifyIndex: req.GetJobModifyIndex(),
	})
	return resp, rpcerr.To(err)
}

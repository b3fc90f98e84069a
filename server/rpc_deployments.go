package server

import (
	"context"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

func (r *rpcServer) ListDeployments(ctx context.Context, req *structs.DeploymentListRequest) (*structs.DeploymentListResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	var ds []*structs.Deployment
	if req.GetJobId() != "" {
		ds, err = r.s.JobDeployments(ctx, req.GetOptions().GetNamespace(), req.GetJobId(), req.GetAll())
	} else {
		ds, err = r.s.Deployments(ctx, req.GetOptions().GetNamespace(), req.GetPrefix())
	}
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.DeploymentListResponse{Deployments: ds, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) GetDeployment(ctx context.Context, req *structs.DeploymentSpecificRequest) (*structs.SingleDeploymentResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	d, err := r.s.Deployment(ctx, req.GetDeploymentId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.SingleDeploymentResponse{Deployment: d, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) PromoteDeployment(ctx context.Context, req *structs.DeploymentPromoteRequest) (*structs.DeploymentUpdateResponse, error) {
	resp, err := r.s.PromoteDeployment(callCtx(ctx, nil), req.GetDeploymentId(), req.GetAll(), req.GetGroups())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) FailDeployment(ctx context.Context, req *structs.DeploymentFailRequest) (*structs.DeploymentUpdateResponse, error) {
	resp, err := r.s.FailDeployment(callCtx(ctx, nil), req.GetDeploymentId())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) PauseDeployment(ctx context.Context, req *structs.DeploymentPauseRequest) (*structs.DeploymentUpdateResponse, error) {
	resp, err := r.s.PauseDeployment(callCtx(ctx, nil), req.GetDeploymentId(), req.GetPause())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) SetAllocHealth(ctx context.Context, req *structs.DeploymentAllocHealthRequest) (*structs.DeploymentUpdateResponse, error) {
	resp, err := r.s.SetAllocHealth(callCtx(ctx, nil), req.GetDeploymentId(), req.GetHealthyIds(), req.GetUnhealthyIds())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) RevertJob(ctx context.Context, req *structs.JobRevertRequest) (*structs.JobRegisterResponse, error) {
	var prior *uint64
	if req.EnforcePriorVersion != nil {
		v := req.GetEnforcePriorVersion()
		prior = &v
	}
	resp, err := r.s.RevertJob(callCtx(ctx, nil), req.GetNamespace(), req.GetJobId(), req.GetJobVersion(), prior)
	return resp, rpcerr.To(err)
}

func (r *rpcServer) SetJobStability(ctx context.Context, req *structs.JobStabilityRequest) (*structs.JobStabilityResponse, error) {
	resp, err := r.s.SetJobStability(callCtx(ctx, nil), req.GetNamespace(), req.GetJobId(), req.GetJobVersion(), req.GetStable())
	return resp, rpcerr.To(err)
}

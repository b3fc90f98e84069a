package server

import (
	"context"
	"time"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

// rpcServer serves the Drover gRPC service on top of a Server.
type rpcServer struct {
	structs.UnimplementedDroverServer
	s *Server
}

func (r *rpcServer) queryMeta(index uint64) *structs.QueryMeta {
	return &structs.QueryMeta{Index: index, KnownLeader: r.s.raft.leaderID.Load() != 0}
}

// block waits for a read's min_query_index, bounded by its max time.
func (r *rpcServer) block(ctx context.Context, q *structs.QueryOptions) {
	r.s.blockingQuery(ctx, q.GetMinQueryIndex(), time.Duration(q.GetMaxQueryTimeMs())*time.Millisecond)
}

func (r *rpcServer) RegisterJob(ctx context.Context, req *structs.JobRegisterRequest) (*structs.JobRegisterResponse, error) {
	resp, err := r.s.RegisterJob(ctx, req.GetJob())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) DeregisterJob(ctx context.Context, req *structs.JobDeregisterRequest) (*structs.JobDeregisterResponse, error) {
	resp, err := r.s.DeregisterJob(ctx, req.GetNamespace(), req.GetJobId(), req.GetPurge())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) GetJob(ctx context.Context, req *structs.JobSpecificRequest) (*structs.SingleJobResponse, error) {
	r.block(ctx, req.GetOptions())
	job, err := r.s.Job(ctx, req.GetOptions().GetNamespace(), req.GetJobId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.SingleJobResponse{Job: job, Meta: r.queryMeta(r.s.state.Index())}, nil
}

func (r *rpcServer) ListJobs(ctx context.Context, req *structs.JobListRequest) (*structs.JobListResponse, error) {
	r.block(ctx, req.GetOptions())
	idx := r.s.state.Index()
	jobs, err := r.s.Jobs(ctx, req.GetOptions().GetNamespace(), req.GetPrefix())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.JobListResponse{Jobs: jobs, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) ListAllocations(ctx context.Context, req *structs.AllocListRequest) (*structs.AllocListResponse, error) {
	r.block(ctx, req.GetOptions())
	idx := r.s.state.Index()
	allocs, err := r.s.Allocations(ctx, req.GetOptions().GetNamespace(), req.GetJobId(), req.GetNodeId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.AllocListResponse{Allocations: allocs, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) ListNodes(ctx context.Context, req *structs.NodeListRequest) (*structs.NodeListResponse, error) {
	r.block(ctx, req.GetOptions())
	idx := r.s.state.Index()
	nodes, err := r.s.Nodes(ctx)
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.NodeListResponse{Nodes: nodes, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) GetEvaluation(ctx context.Context, req *structs.EvalSpecificRequest) (*structs.SingleEvalResponse, error) {
	r.block(ctx, req.GetOptions())
	e, err := r.s.Evaluation(ctx, req.GetEvalId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.SingleEvalResponse{Eval: e, Meta: r.queryMeta(r.s.state.Index())}, nil
}

func (r *rpcServer) RegisterNode(ctx context.Context, req *structs.NodeRegisterRequest) (*structs.NodeUpdateResponse, error) {
	resp, err := r.s.RegisterNode(ctx, req.GetNode())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) Heartbeat(ctx context.Context, req *structs.NodeHeartbeatRequest) (*structs.NodeUpdateResponse, error) {
	resp, err := r.s.Heartbeat(ctx, req.GetNodeId(), req.GetSecretId())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) GetNodeAllocations(ctx context.Context, req *structs.NodeAllocsRequest) (*structs.NodeAllocsResponse, error) {
	q := req.GetOptions()
	allocs, idx, err := r.s.NodeAllocations(ctx, req.GetNodeId(), req.GetSecretId(), q.GetMinQueryIndex(),
		time.Duration(q.GetMaxQueryTimeMs())*time.Millisecond)
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.NodeAllocsResponse{Allocations: allocs, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) UpdateAllocations(ctx context.Context, req *structs.AllocUpdateRequest) (*structs.GenericResponse, error) {
	idx, err := r.s.UpdateAllocations(ctx, req.GetNodeId(), req.GetSecretId(), req.GetAllocations())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) GetSchedulerConfiguration(ctx context.Context, req *structs.SchedulerConfigRequest) (*structs.SchedulerConfigResponse, error) {
	r.block(ctx, req.GetOptions())
	c, err := r.s.SchedulerConfiguration(ctx)
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.SchedulerConfigResponse{Config: c, Meta: r.queryMeta(r.s.state.Index())}, nil
}

func (r *rpcServer) SetSchedulerConfiguration(ctx context.Context, req *structs.SchedulerSetConfigRequest) (*structs.SchedulerSetConfigResponse, error) {
	updated, idx, err := r.s.SetSchedulerConfiguration(ctx, req.GetConfig(), req.GetCas(), req.GetCasIndex())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.SchedulerSetConfigResponse{Updated: updated, Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) GetJobVersions(ctx context.Context, req *structs.JobSpecificRequest) (*structs.JobVersionsResponse, error) {
	r.block(ctx, req.GetOptions())
	versions, err := r.s.JobVersions(ctx, req.GetOptions().GetNamespace(), req.GetJobId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.JobVersionsResponse{Versions: versions, Meta: r.queryMeta(r.s.state.Index())}, nil
}

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

// callCtx carries what an RPC's metadata and options say into the
// context the Server methods read: forwarded calls are not forwarded
// again, and stale reads are served locally.
func callCtx(ctx context.Context, q *structs.QueryOptions) context.Context {
	if incomingForwarded(ctx) {
		ctx = withForwarded(ctx)
	}
	if q.GetAllowStale() {
		ctx = AllowStale(ctx)
	}
	ctx = incomingRegion(ctx)
	if r := q.GetRegion(); r != "" {
		ctx = InRegion(ctx, r)
	}
	return ctx
}

func (r *rpcServer) queryMeta(index uint64) *structs.QueryMeta {
	return r.s.queryMeta(index)
}

// prepareRead readies a read. One for another region goes to the Server
// methods as it is: they forward it, with its own consistency. A local
// one waits until this server holds every acknowledged write (unless
// stale) and for the blocking query's index, and returns the context the
// methods then read under without waiting again, and the index to report.
func (r *rpcServer) prepareRead(ctx context.Context, q *structs.QueryOptions) (context.Context, uint64, error) {
	ctx = callCtx(ctx, q)
	if r.s.otherRegion(ctx, "") != "" {
		return ctx, r.s.state.Index(), nil
	}
	if err := r.s.readBarrier(ctx); err != nil {
		return nil, 0, rpcerr.To(err)
	}
	if q.GetMinQueryIndex() > 0 {
		// An unknown or expired token holds no blocking query open; the
		// read itself checks the caller's rights after the wait.
		if _, err := r.s.authorize(ctx); err != nil {
			return nil, 0, rpcerr.To(err)
		}
	}
	r.block(ctx, q)
	return AllowStale(ctx), r.s.state.Index(), nil
}

// block waits for a read's min_query_index, bounded by its max time.
func (r *rpcServer) block(ctx context.Context, q *structs.QueryOptions) {
	r.s.blockingQuery(ctx, q.GetMinQueryIndex(), time.Duration(q.GetMaxQueryTimeMs())*time.Millisecond)
}

func (r *rpcServer) RegisterJob(ctx context.Context, req *structs.JobRegisterRequest) (*structs.JobRegisterResponse, error) {
	resp, err := r.s.RegisterJobWithOptions(callCtx(ctx, &structs.QueryOptions{Region: req.GetRegion()}), req.GetJob(),
		RegisterOptions{EnforceIndex: req.GetEnforceIndex(), JobModifyIndex: req.GetJobModifyIndex()})
	return resp, rpcerr.To(err)
}

func (r *rpcServer) DeregisterJob(ctx context.Context, req *structs.JobDeregisterRequest) (*structs.JobDeregisterResponse, error) {
	resp, err := r.s.DeregisterJob(callCtx(ctx, nil), req.GetNamespace(), req.GetJobId(), req.GetPurge())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) GetJob(ctx context.Context, req *structs.JobSpecificRequest) (*structs.SingleJobResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	job, err := r.s.Job(ctx, req.GetOptions().GetNamespace(), req.GetJobId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.SingleJobResponse{Job: job, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) ListJobs(ctx context.Context, req *structs.JobListRequest) (*structs.JobListResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	if req.GetSummaries() {
		jobs, sums, err := r.s.JobsWithSummaries(ctx, req.GetOptions().GetNamespace(), req.GetPrefix())
		if err != nil {
			return nil, rpcerr.To(err)
		}
		return &structs.JobListResponse{Jobs: jobs, Summaries: sums, Meta: r.queryMeta(idx)}, nil
	}
	jobs, err := r.s.Jobs(ctx, req.GetOptions().GetNamespace(), req.GetPrefix())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.JobListResponse{Jobs: jobs, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) ListAllocations(ctx context.Context, req *structs.AllocListRequest) (*structs.AllocListResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	allocs, err := r.s.Allocations(ctx, req.GetOptions().GetNamespace(), req.GetJobId(), req.GetNodeId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.AllocListResponse{Allocations: allocs, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) ListNodes(ctx context.Context, req *structs.NodeListRequest) (*structs.NodeListResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	nodes, err := r.s.Nodes(ctx)
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.NodeListResponse{Nodes: nodes, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) GetEvaluation(ctx context.Context, req *structs.EvalSpecificRequest) (*structs.SingleEvalResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	e, err := r.s.Evaluation(ctx, req.GetEvalId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.SingleEvalResponse{Eval: e, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) RegisterNode(ctx context.Context, req *structs.NodeRegisterRequest) (*structs.NodeUpdateResponse, error) {
	resp, err := r.s.RegisterNode(callCtx(ctx, nil), req.GetNode())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) Heartbeat(ctx context.Context, req *structs.NodeHeartbeatRequest) (*structs.NodeUpdateResponse, error) {
	resp, err := r.s.Heartbeat(callCtx(ctx, nil), req.GetNodeId(), req.GetSecretId())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) GetNodeAllocations(ctx context.Context, req *structs.NodeAllocsRequest) (*structs.NodeAllocsResponse, error) {
	q := req.GetOptions()
	since := req.GetChangesSince()
	read, err := r.s.nodeAllocations(callCtx(ctx, q), req.GetNodeId(), req.GetSecretId(), q.GetMinQueryIndex(),
		time.Duration(q.GetMaxQueryTimeMs())*time.Millisecond, nodeAllocsQuery{
			since: since,
			// Only a client that keeps its list can do without its own reports.
			serverOnly:     req.GetWithoutReports() && since > 0,
			idsWhenRemoved: req.GetIdsWhenRemoved(),
		})
	if err != nil {
		return nil, rpcerr.To(err)
	}
	resp := &structs.NodeAllocsResponse{Allocations: read.allocs, Meta: r.queryMeta(read.index)}
	if since > 0 {
		// A client holding the list as of since gets every id (unless
		// omitted) and in full only what changed after since. Its own
		// status reports change its allocations too, so without this every
		// report would bring back the whole list.
		resp.ChangesOnly, resp.AllocIds, resp.IdsOmitted = true, read.ids, read.idsOmitted
	}
	return resp, nil
}

func (r *rpcServer) UpdateAllocations(ctx context.Context, req *structs.AllocUpdateRequest) (*structs.GenericResponse, error) {
	idx, err := r.s.UpdateAllocations(callCtx(ctx, nil), req.GetNodeId(), req.GetSecretId(), req.GetAllocations())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) ServerInfo(_ context.Context, req *structs.ServerInfoRequest) (*structs.ServerInfoResponse, error) {
	if !r.s.raft.Started() {
		r.s.sawPeer(req.GetSelf())
	}
	return r.s.serverInfo(), nil
}

func (r *rpcServer) AddRaftPeer(ctx context.Context, req *structs.AddRaftPeerRequest) (*structs.GenericResponse, error) {
	if req.GetPeer() == nil {
		return nil, rpcerr.To(ErrBadRequest)
	}
	err := r.s.addPeer(callCtx(ctx, nil), req.GetPeer(), req.GetPromote())
	return &structs.GenericResponse{}, rpcerr.To(err)
}

func (r *rpcServer) RemoveRaftPeer(ctx context.Context, req *structs.RemoveRaftPeerRequest) (*structs.GenericResponse, error) {
	ctx = callCtx(ctx, nil)
	id := req.GetId()
	if id == 0 {
		p, err := r.s.findPeer(req.GetName())
		if err != nil {
			return nil, rpcerr.To(err)
		}
		id = p.Id
	}
	return &structs.GenericResponse{}, rpcerr.To(r.s.removePeer(ctx, id))
}

func (r *rpcServer) RaftConfiguration(ctx context.Context, req *structs.RaftConfigurationRequest) (*structs.RaftConfigurationResponse, error) {
	ctx = callCtx(ctx, req.GetOptions())
	if isStale(ctx) {
		return r.s.raft.LocalConfiguration(), nil
	}
	if !r.s.raft.IsLeader() {
		// Forwarded here by a server that thought this one leads.
		return nil, rpcerr.To(ErrNotLeader)
	}
	resp, err := r.s.raft.LeaderConfiguration(ctx)
	return resp, rpcerr.To(err)
}

func (r *rpcServer) GarbageCollect(ctx context.Context, _ *structs.GarbageCollectRequest) (*structs.GarbageCollectResponse, error) {
	n, err := r.s.GarbageCollect(callCtx(ctx, nil))
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GarbageCollectResponse{Removed: int64(n)}, nil
}

func (r *rpcServer) UpdateNodeEligibility(ctx context.Context, req *structs.NodeEligibilityRequest) (*structs.NodeEligibilityResponse, error) {
	resp, err := r.s.UpdateNodeEligibility(callCtx(ctx, nil), req.GetNodeId(), req.GetEligibility())
	return resp, rpcerr.To(err)
}

func (r *rpcServer) UpdateNodeDrain(ctx context.Context, req *structs.NodeDrainRequest) (*structs.NodeDrainResponse, error) {
	idx, err := r.s.UpdateNodeDrain(callCtx(ctx, nil), req.GetNodeId(), req.GetSecretId(), req.GetDrainStrategy(), req.GetMarkEligible())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.NodeDrainResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) GetSchedulerConfiguration(ctx context.Context, req *structs.SchedulerConfigRequest) (*structs.SchedulerConfigResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	c, err := r.s.SchedulerConfiguration(ctx)
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.SchedulerConfigResponse{Config: c, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) SetSchedulerConfiguration(ctx context.Context, req *structs.SchedulerSetConfigRequest) (*structs.SchedulerSetConfigResponse, error) {
	updated, idx, err := r.s.SetSchedulerConfiguration(callCtx(ctx, nil), req.GetConfig(), req.GetCas(), req.GetCasIndex())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.SchedulerSetConfigResponse{Updated: updated, Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) GetJobVersions(ctx context.Context, req *structs.JobSpecificRequest) (*structs.JobVersionsResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	versions, err := r.s.JobVersions(ctx, req.GetOptions().GetNamespace(), req.GetJobId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.JobVersionsResponse{Versions: versions, Meta: r.queryMeta(idx)}, nil
}

package drover

import (
	"context"
	"fmt"
	"math"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/server"
	"github.com/droverhq/drover/structs"
)

// HTTPHandler returns a handler serving the Nomad-compatible /v1 HTTP API
// for this server, with default limits. Mount it on the host's own
// http.Server; see docs/http-api.md for what each endpoint supports.
func (s *Server) HTTPHandler() http.Handler {
	return s.NewHTTPHandler(api.Options{})
}

// NewHTTPHandler is HTTPHandler with explicit options (body size limit,
// blocking-query cap, event heartbeat, logger, whether the agent also runs
// a client). A nil Logger takes the server's.
func (s *Server) NewHTTPHandler(opts api.Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = s.logger
	}
	if opts.Logs == nil {
		opts.Logs = logStream(s.logger)
	}
	return api.NewHandler(&apiBackend{Server: s.srv, gatherer: s.gatherer, opts: &s.opts}, opts)
}

// apiBackend adapts the server to what the HTTP handlers need.
type apiBackend struct {
	*server.Server
	gatherer prometheus.Gatherer
	opts     *ServerOptions
}

var _ api.Backend = (*apiBackend)(nil)

// InRegion implements api.StateBackend.
func (b *apiBackend) InRegion(ctx context.Context, region string) context.Context {
	return InRegion(ctx, region)
}

// WithToken implements api.StateBackend.
func (b *apiBackend) WithToken(ctx context.Context, secret string) context.Context {
	return server.WithToken(ctx, secret)
}

// PrepareRead implements api.StateBackend.
func (b *apiBackend) PrepareRead(ctx context.Context, stale bool) (context.Context, error) {
	if stale {
		return AllowStale(ctx), nil
	}
	return b.ConsistentRead(ctx)
}

// JobVersions implements api.JobBackend.
func (b *apiBackend) JobVersions(ctx context.Context, namespace, jobID string) ([]*structs.Job, error) {
	return b.Server.JobVersions(ctx, namespace, jobID)
}

// UpdateNodeEligibility implements api.NodeBackend.
func (b *apiBackend) UpdateNodeEligibility(ctx context.Context, nodeID, eligibility string) (api.NodeUpdate, error) {
	resp, err := b.Server.UpdateNodeEligibility(ctx, nodeID, eligibility)
	if err != nil {
		return api.NodeUpdate{}, err
	}
	return api.NodeUpdate{Index: resp.GetMeta().GetIndex(), EvalIDs: resp.EvalIds}, nil
}

// UpdateNodeDrain implements api.NodeBackend: an operator's drain (no
// node secret), started with spec or cancelled with nil.
func (b *apiBackend) UpdateNodeDrain(ctx context.Context, nodeID string, spec *api.DrainSpec, markEligible bool, _ map[string]string) (api.NodeUpdate, error) {
	var strategy *structs.DrainStrategy
	if spec != nil {
		strategy = &structs.DrainStrategy{Deadline: durationpb.New(spec.Deadline), IgnoreSystemJobs: spec.IgnoreSystemJobs}
	}
	idx, err := b.Server.UpdateNodeDrain(ctx, nodeID, "", strategy, markEligible)
	if err != nil {
		return api.NodeUpdate{}, err
	}
	return api.NodeUpdate{Index: idx}, nil
}

// Self implements api.ClusterBackend.
func (b *apiBackend) Self() api.AgentInfo {
	o := b.opts
	term, applied := b.RaftState()
	return api.AgentInfo{
		Name: b.Name(), Region: b.Region(), Datacenter: b.Datacenter(), Addr: b.AdvertiseAddr(), Version: Version, Server: true,
		RaftTerm: term, RaftAppliedIndex: applied, KnownRegions: len(b.Server.Regions()),
		Config: map[string]any{"DataDir": o.DataDir, "ACL": map[string]any{"Enabled": o.ACL.Enabled},
			"TLSConfig": map[string]any{"EnableRPC": o.TLS != nil && o.TLS.RPC, "EnableHTTP": o.TLS != nil && o.TLS.HTTP,
				"VerifyServerHostname": o.TLS != nil && o.TLS.VerifyServerHostname}},
	}
}

// Peers implements api.ClusterBackend: the RPC addresses of the raft peer set.
func (b *apiBackend) Peers(context.Context) ([]string, error) {
	if p := b.Server.Peers(); len(p) > 0 {
		return p, nil
	}
	return []string{b.AdvertiseAddr()}, nil
}

// Members implements api.ClusterBackend: the servers of the gossip pool.
func (b *apiBackend) Members(context.Context) ([]api.Member, error) {
	var out []api.Member
	for _, m := range b.Server.Members() {
		host, port := splitAddr(m.Addr)
		tags := map[string]string{
			"role": "nomad", "region": m.Tags["region"], "dc": m.Tags["dc"], "build": m.Tags["build"],
			"id": m.Tags["id"], "expect": m.Tags["expect"],
		}
		if _, rpcPort := splitAddr(m.Tags["rpc_addr"]); rpcPort != 0 {
			tags["port"] = fmt.Sprint(rpcPort)
		}
		if m.Tags["nonvoter"] == "1" {
			tags["nonvoter"] = "1"
		}
		out = append(out, api.Member{Name: m.Name, Addr: host, Port: port, Status: m.Status, Tags: tags})
	}
	return out, nil
}

// RaftConfiguration implements api.ClusterBackend: the raft peer set as
// the leader reports it (or this server's own view under a stale read).
func (b *apiBackend) RaftConfiguration(ctx context.Context) (api.RaftConfiguration, error) {
	peers, err := b.Server.RaftConfiguration(ctx)
	if err != nil {
		return api.RaftConfiguration{}, err
	}
	out := api.RaftConfiguration{Index: b.RaftConfigurationIndex()}
	for _, p := range peers {
		out.Servers = append(out.Servers, api.RaftServer{
			ID: fmt.Sprintf("%x", p.ID), Node: p.Name, Address: p.Addr, Leader: p.Leader, Voter: p.Voter,
		})
	}
	return out, nil
}

// Regions implements api.ClusterBackend: the regions of the federation.
func (b *apiBackend) Regions(context.Context) ([]string, error) { return b.Server.Regions(), nil }

// SchedulerConfiguration implements api.ClusterBackend.
func (b *apiBackend) SchedulerConfiguration(ctx context.Context) (api.SchedulerConfiguration, error) {
	c, err := b.Server.SchedulerConfiguration(ctx)
	if err != nil {
		return api.SchedulerConfiguration{}, err
	}
	p := c.GetPreemptionConfig()
	return api.SchedulerConfiguration{
		SchedulerAlgorithm: c.SchedulerAlgorithm,
		PreemptionConfig: api.PreemptionConfig{
			SystemSchedulerEnabled: p.GetSystemSchedulerEnabled(), SysBatchSchedulerEnabled: p.GetSysbatchSchedulerEnabled(),
			BatchSchedulerEnabled: p.GetBatchSchedulerEnabled(), ServiceSchedulerEnabled: p.GetServiceSchedulerEnabled(),
		},
		MemoryOversubscriptionEnabled: c.MemoryOversubscriptionEnabled,
		RejectJobRegistration:         c.RejectJobRegistration,
		PauseEvalBroker:               c.PauseEvalBroker,
		CreateIndex:                   c.CreateIndex,
		ModifyIndex:                   c.ModifyIndex,
	}, nil
}

// SetSchedulerConfiguration implements api.ClusterBackend.
func (b *apiBackend) SetSchedulerConfiguration(ctx context.Context, cfg api.SchedulerConfiguration, cas *uint64) (bool, uint64, error) {
	c := (&SchedulerConfiguration{
		SchedulerAlgorithm:            cfg.SchedulerAlgorithm,
		MemoryOversubscriptionEnabled: cfg.MemoryOversubscriptionEnabled,
		RejectJobRegistration:         cfg.RejectJobRegistration,
		PauseEvalBroker:               cfg.PauseEvalBroker,
		PreemptionConfig: PreemptionConfig{
			SystemSchedulerEnabled: cfg.PreemptionConfig.SystemSchedulerEnabled, SysBatchSchedulerEnabled: cfg.PreemptionConfig.SysBatchSchedulerEnabled,
			BatchSchedulerEnabled: cfg.PreemptionConfig.BatchSchedulerEnabled, ServiceSchedulerEnabled: cfg.PreemptionConfig.ServiceSchedulerEnabled,
		},
	}).proto()
	var casIndex uint64
	if cas != nil {
		casIndex = *cas
	}
	return b.Server.SetSchedulerConfiguration(ctx, c, cas != nil, casIndex)
}

// GarbageCollect implements api.ClusterBackend.
func (b *apiBackend) GarbageCollect(ctx context.Context) error {
	_, err := b.Server.GarbageCollect(ctx)
	return err
}

// Gatherer implements api.ClusterBackend.
func (b *apiBackend) Gatherer() prometheus.Gatherer { return b.gatherer }

func splitAddr(addr string) (string, int) {
	var host string
	var port int
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			host = addr[:i]
			_, _ = fmt.Sscan(addr[i+1:], &port)
			return host, port
		}
	}
	return addr, 0
}

// Dispatch implements api.BatchBackend.
func (b *apiBackend) Dispatch(ctx context.Context, req api.DispatchRequest) (*structs.JobDispatchResponse, error) {
	if req.Priority < 0 || req.Priority > math.MaxInt32 {
		return nil, fmt.Errorf("%w: priority %d is out of range", structs.ErrBadRequest, req.Priority)
	}
	return b.Server.DispatchJob(ctx, server.DispatchRequest{
		Namespace: req.Namespace, JobID: req.JobID, Payload: req.Payload, Meta: req.Meta,
		IdempotencyToken: req.IdempotencyToken, IDPrefix: req.IDPrefix, Priority: int32(req.Priority),
	})
}

// Scale implements api.BatchBackend.
func (b *apiBackend) Scale(ctx context.Context, req api.ScaleRequest) (*structs.JobRegisterResponse, error) {
	return b.Server.ScaleJob(ctx, server.ScaleRequest{
		Namespace: req.Namespace, JobID: req.JobID, Group: req.Group, Count: req.Count, Message: req.Message,
		Error: req.Error, Meta: req.Meta, EnforceIndex: req.EnforceIndex, JobModifyIndex: req.JobModifyIndex,
	})
}

// JobScaleStatus implements api.BatchBackend.
func (b *apiBackend) JobScaleStatus(ctx context.Context, namespace, jobID string) (*api.ScaleStatus, error) {
	st, err := b.Server.ScaleStatus(ctx, namespace, jobID)
	if err != nil {
		return nil, err
	}
	out := &api.ScaleStatus{Job: st.Job, Groups: make(map[string]api.GroupScaleStatus, len(st.Groups))}
	for name, g := range st.Groups {
		out.Groups[name] = api.GroupScaleStatus{Desired: g.Desired, Placed: g.Placed, Running: g.Running,
			Healthy: g.Healthy, Unhealthy: g.Unhealthy, Events: g.Events}
	}
	return out, nil
}

package drover

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/server"
	"github.com/droverhq/drover/structs"
)

// The HTTP API's operator endpoints, on the server's Go API.

// logStream is the log broadcaster the server's logger writes through,
// if the host installed one.
func logStream(l *slog.Logger) api.LogStream {
	if l == nil {
		return nil
	}
	if b, ok := l.Handler().(*LogBroadcaster); ok {
		return b
	}
	return nil
}

// PlanJob implements api.OperatorBackend.
func (b *apiBackend) PlanJob(ctx context.Context, job *structs.Job) (*api.JobPlan, error) {
	p, err := b.Server.PlanJob(ctx, job)
	if err != nil {
		return nil, err
	}
	return &api.JobPlan{
		Job: p.Job, Current: p.Current, JobModifyIndex: p.JobModifyIndex, Updates: p.Updates,
		FailedTGAllocs: p.FailedTGAllocs, Preempted: p.Preempted, NextPeriodicLaunch: p.NextPeriodicLaunch,
	}, nil
}

// RegisterJobIfIndex implements api.OperatorBackend.
func (b *apiBackend) RegisterJobIfIndex(ctx context.Context, job *structs.Job, index uint64) (*structs.JobRegisterResponse, error) {
	return b.Server.RegisterJobWithOptions(ctx, job, server.RegisterOptions{EnforceIndex: true, JobModifyIndex: index})
}

// PurgeNode implements api.OperatorBackend.
func (b *apiBackend) PurgeNode(ctx context.Context, nodeID string) (api.NodeUpdate, error) {
	ids, idx, err := b.Server.PurgeNode(ctx, nodeID)
	return api.NodeUpdate{Index: idx, EvalIDs: ids}, err
}

// RemoveRaftPeer implements api.OperatorBackend: by hex raft id, or by
// the RPC address of a peer.
func (b *apiBackend) RemoveRaftPeer(ctx context.Context, id, address string) error {
	if id == "" {
		peers, err := b.Server.RaftConfiguration(ctx)
		if err != nil {
			return err
		}
		for _, p := range peers {
			if p.Addr == address {
				id = strconv.FormatUint(p.ID, 16)
			}
		}
		if id == "" {
			return fmt.Errorf("%w: no server with address %q in the raft peer set", ErrNotFound, address)
		}
	}
	return b.Server.RemoveServer(ctx, id)
}

// Join implements api.OperatorBackend.
func (b *apiBackend) Join(ctx context.Context, addrs []string) (int, error) {
	return b.Server.Join(ctx, addrs...)
}

// Keyring implements api.OperatorBackend.
func (b *apiBackend) Keyring(ctx context.Context, op, key string) (*api.KeyringResult, error) {
	var r *server.KeyringResponse
	var err error
	switch op {
	case "list":
		r, err = b.KeyringList(ctx)
	case "install":
		r, err = b.KeyringInstall(ctx, key)
	case "use":
		r, err = b.KeyringUse(ctx, key)
	case "remove":
		r, err = b.KeyringRemove(ctx, key)
	default:
		return nil, fmt.Errorf("%w: unknown keyring operation %q", ErrBadRequest, op)
	}
	if r == nil {
		return nil, err
	}
	return &api.KeyringResult{Keys: r.Keys, PrimaryKeys: r.PrimaryKeys, Servers: r.Servers, Errors: r.Errors, Messages: r.Messages}, err
}

// AutopilotConfiguration implements api.OperatorBackend.
func (b *apiBackend) AutopilotConfiguration(ctx context.Context) (api.AutopilotConfiguration, error) {
	c, err := b.Server.AutopilotConfiguration(ctx)
	if err != nil {
		return api.AutopilotConfiguration{}, err
	}
	return api.AutopilotConfiguration{
		CleanupDeadServers: c.CleanupDeadServers, LastContactThreshold: c.GetLastContactThreshold().AsDuration(),
		MaxTrailingLogs: c.MaxTrailingLogs, MinQuorum: uint(c.MinQuorum),
		ServerStabilizationTime: c.GetServerStabilizationTime().AsDuration(), CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex,
	}, nil
}

// SetAutopilotConfiguration implements api.OperatorBackend. The dead
// server threshold is not part of Nomad's API: it is kept as it is.
func (b *apiBackend) SetAutopilotConfiguration(ctx context.Context, c api.AutopilotConfiguration, cas *uint64) (bool, uint64, error) {
	cur, err := b.Server.AutopilotConfiguration(ctx)
	if err != nil {
		return false, 0, err
	}
	cfg := &structs.AutopilotConfiguration{
		CleanupDeadServers: c.CleanupDeadServers, LastContactThreshold: durationpb.New(c.LastContactThreshold),
		MaxTrailingLogs: c.MaxTrailingLogs, MinQuorum: uint32(min(c.MinQuorum, 1<<31)),
		ServerStabilizationTime: durationpb.New(c.ServerStabilizationTime), DeadServerThreshold: cur.DeadServerThreshold,
	}
	var casIndex uint64
	if cas != nil {
		casIndex = *cas
	}
	return b.Server.SetAutopilotConfiguration(ctx, cfg, cas != nil, casIndex)
}

// ServerHealth implements api.OperatorBackend.
func (b *apiBackend) ServerHealth(ctx context.Context) (*api.OperatorHealth, error) {
	h, err := b.Server.AutopilotHealth(ctx)
	if err != nil {
		return nil, err
	}
	out := &api.OperatorHealth{Healthy: h.Healthy, FailureTolerance: h.FailureTolerance}
	for _, s := range h.Servers {
		out.Servers = append(out.Servers, api.ServerHealth{
			ID: s.ID, Name: s.Name, Address: s.Address, SerfStatus: s.SerfStatus, Version: s.Version, Leader: s.Leader,
			Voter: s.Voter, Healthy: s.Healthy, LastContact: s.LastContact, LastTerm: s.LastTerm, LastIndex: s.LastIndex,
			StableSince: s.StableSince,
		})
	}
	return out, nil
}

// ReconcileSummaries implements api.OperatorBackend.
func (b *apiBackend) ReconcileSummaries(ctx context.Context) (uint64, error) {
	return b.ReconcileJobSummaries(ctx)
}

package drover

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/droverhq/drover/structs"
)

// This file holds the Server's lifecycle and cluster operations; its jobs,
// allocations, evaluations and nodes are in server_jobs.go, its ACL
// operations in server_acl.go.

// Name is the server's name among its peers.
func (s *Server) Name() string { return s.srv.Name() }

// Region is the region the server belongs to.
func (s *Server) Region() string { return s.srv.Region() }

// Datacenter is the datacenter the server runs in.
func (s *Server) Datacenter() string { return s.srv.Datacenter() }

// Addr is the address the server's RPC listener is bound to: what
// ClientOptions.Servers and ServerOptions.StaticPeers name.
func (s *Server) Addr() string { return s.srv.Addr() }

// AdvertiseAddr is the RPC address other servers and clients are told to
// use (Addr is the one the listener is bound to).
func (s *Server) AdvertiseAddr() string { return s.srv.AdvertiseAddr() }

// GossipAddr is the serf address other servers join (ServerJoin.RetryJoin,
// Join), or "" when gossip is off.
func (s *Server) GossipAddr() string { return s.srv.GossipAddr() }

// Ready is closed once the server leads, or knows its leader, and serves.
func (s *Server) Ready() <-chan struct{} { return s.srv.Ready() }

// WaitForLeader blocks until the server is Ready or ctx is done.
func (s *Server) WaitForLeader(ctx context.Context) error { return s.srv.WaitForLeader(ctx) }

// Done is closed once the server has stopped, by Shutdown, Leave or a
// fatal error (then Err says which).
func (s *Server) Done() <-chan struct{} { return s.srv.Done() }

// Err is the fatal error that stopped the server, or nil.
func (s *Server) Err() error { return s.srv.Err() }

// Shutdown stops every goroutine the server started and closes its store;
// the server stays a member of the cluster (a restart on the same DataDir
// rejoins it), which Leave does not. It is idempotent; ctx bounds the wait
// for in-flight calls to finish.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// IsLeader reports whether this server currently leads the cluster.
func (s *Server) IsLeader() bool { return s.srv.IsLeader() }

// LeaderAddr is the RPC address of the cluster leader, or "" when none is
// known.
func (s *Server) LeaderAddr() string { return s.srv.LeaderAddr() }

// KnownLeader reports whether the server knows a cluster leader now: the
// health a load balancer in front of the servers checks.
func (s *Server) KnownLeader() bool { return s.srv.KnownLeader() }

// LastContact is how long ago this server last heard from the leader: zero
// on the leader itself, and when no leader is known.
func (s *Server) LastContact() time.Duration { return s.srv.LastContact() }

// StateIndex is the raft index of the latest change this server applied.
func (s *Server) StateIndex() uint64 { return s.srv.StateIndex() }

// WaitForIndex blocks until this server has applied a change past min, ctx
// is done or the server shuts down, and returns the index seen. A loop of
// WaitForIndex and reads is a blocking query; WatchAllocations and
// WatchJob are that loop, written once.
func (s *Server) WaitForIndex(ctx context.Context, min uint64) uint64 {
	return s.srv.WaitForIndex(ctx, min)
}

// Join joins the gossip pool through the servers at addrs (host:port, or
// a host name on the default serf port) and returns how many it reached.
// The servers of this region found that way become raft peers once the
// leader sees them; servers of other regions federate.
func (s *Server) Join(ctx context.Context, addrs ...string) (int, error) {
	return s.srv.Join(ctx, addrs...)
}

// Leave leaves the cluster gracefully and shuts the server down: a leader
// first hands leadership to another voter, then the server asks to be
// removed from the raft peer set, so the others never count it toward a
// quorum again, and then announces its leave to the gossip pool. Restarted
// on the same data, it stays out unless RejoinAfterLeave is set. A server
// that is the only voter just shuts down.
func (s *Server) Leave(ctx context.Context) error { return s.srv.Leave(ctx) }

// ForceLeave marks a failed server of the gossip pool as left (the `nomad
// server force-leave` equivalent); the leader then removes it from the
// raft peer set. name is the member name ("<server>.<region>") or the
// server name.
func (s *Server) ForceLeave(ctx context.Context, name string) error {
	return s.srv.ForceLeave(ctx, name)
}

// Members lists the servers of the gossip pool, of every region.
func (s *Server) Members() []Member { return s.srv.Members() }

// Regions lists the regions of the federation: this server's and those of
// the servers it gossips with.
func (s *Server) Regions() []string { return s.srv.Regions() }

// RaftConfiguration lists the servers of the raft peer set with each one's
// role, term and last log index (the `nomad operator raft list-peers`
// equivalent). It asks the leader; under AllowStale it answers from this
// server's own view, without indexes.
func (s *Server) RaftConfiguration(ctx context.Context) ([]RaftServer, error) {
	return s.srv.RaftConfiguration(ctx)
}

// RemoveServer removes a server, named by name or hex raft id, from the
// raft peer set: the `nomad operator raft remove-peer` (and, for a failed
// server, `force-leave`) equivalent. Its raft id can never be used again.
// Removing servers until fewer than a quorum of the old set remain is
// refused only by arithmetic: raft needs the change itself committed.
func (s *Server) RemoveServer(ctx context.Context, nameOrID string) error {
	return s.srv.RemoveServer(ctx, nameOrID)
}

// PromoteServer makes a non-voting server, named by name or hex raft id, a
// voter.
func (s *Server) PromoteServer(ctx context.Context, nameOrID string) error {
	return s.srv.PromoteServer(ctx, nameOrID)
}

// KeyringList lists the gossip keys installed on every server.
func (s *Server) KeyringList(ctx context.Context) (*KeyringResponse, error) {
	return s.srv.KeyringList(ctx)
}

// KeyringInstall adds a key (base64, as ServerOptions.Encrypt) to every
// server's keyring, without using it yet.
func (s *Server) KeyringInstall(ctx context.Context, key string) (*KeyringResponse, error) {
	return s.srv.KeyringInstall(ctx, key)
}

// KeyringUse makes an installed key the one every server encrypts with.
func (s *Server) KeyringUse(ctx context.Context, key string) (*KeyringResponse, error) {
	return s.srv.KeyringUse(ctx, key)
}

// KeyringRemove removes a key that is no longer primary from every server.
func (s *Server) KeyringRemove(ctx context.Context, key string) (*KeyringResponse, error) {
	return s.srv.KeyringRemove(ctx, key)
}

// Backup writes the whole cluster state to w as a snapshot stream (the
// `nomad operator snapshot save` equivalent). By default the state is at
// least as new as every write acknowledged before the call; under
// AllowStale it is this server's own state. It returns the raft index the
// backup holds.
func (s *Server) Backup(ctx context.Context, w io.Writer) (uint64, error) {
	return s.srv.Backup(ctx, w)
}

// Restore replaces the whole cluster state with a backup that Backup wrote
// (`nomad operator snapshot restore`). The backup's objects take effect
// together, on every server; a damaged backup changes nothing (an error
// matching ErrBadRequest). The raft peer set is not part of what is
// restored: the cluster keeps its own servers. It returns the raft index
// at which the restored state took effect.
func (s *Server) Restore(ctx context.Context, r io.Reader) (uint64, error) {
	return s.srv.Restore(ctx, r)
}

// SchedulerConfiguration returns the cluster's scheduler configuration
// (ServerOptions.DefaultSchedulerConfig until an operator changed it) and
// the raft index of its last change, which SetSchedulerConfiguration's
// compare-and-set takes.
func (s *Server) SchedulerConfiguration(ctx context.Context) (*SchedulerConfiguration, uint64, error) {
	c, err := s.srv.SchedulerConfiguration(ctx)
	if err != nil {
		return nil, 0, err
	}
	return schedulerConfigurationOf(c), c.GetModifyIndex(), nil
}

// SetSchedulerConfiguration replaces the cluster's scheduler configuration.
// With cas, the update only happens if the configuration's last change is
// still at casIndex (as SchedulerConfiguration returned it); updated
// reports whether it did, and index is the raft index of the write.
func (s *Server) SetSchedulerConfiguration(ctx context.Context, c *SchedulerConfiguration, cas bool, casIndex uint64) (updated bool, index uint64, err error) {
	if c == nil {
		return false, 0, fmt.Errorf("%w: no scheduler configuration", ErrBadRequest)
	}
	return s.srv.SetSchedulerConfiguration(ctx, c.proto(), cas, casIndex)
}

// GarbageCollect collects, now, every terminal node, job and evaluation
// (the `nomad system gc` equivalent): thresholds are ignored, but nothing
// still running is removed and the latest evaluation of a batch job is
// kept. It returns how many objects were removed.
func (s *Server) GarbageCollect(ctx context.Context) (int, error) {
	return s.srv.GarbageCollect(ctx)
}

// proto converts the options' scheduler configuration to the replicated one.
func (c *SchedulerConfiguration) proto() *structs.SchedulerConfiguration {
	if c == nil {
		return nil
	}
	return &structs.SchedulerConfiguration{
		SchedulerAlgorithm:            c.SchedulerAlgorithm,
		MemoryOversubscriptionEnabled: c.MemoryOversubscriptionEnabled,
		RejectJobRegistration:         c.RejectJobRegistration,
		PauseEvalBroker:               c.PauseEvalBroker,
		PreemptionConfig: &structs.PreemptionConfig{
			SystemSchedulerEnabled:   c.PreemptionConfig.SystemSchedulerEnabled,
			SysbatchSchedulerEnabled: c.PreemptionConfig.SysBatchSchedulerEnabled,
			BatchSchedulerEnabled:    c.PreemptionConfig.BatchSchedulerEnabled,
			ServiceSchedulerEnabled:  c.PreemptionConfig.ServiceSchedulerEnabled,
		},
	}
}

// schedulerConfigurationOf is the replicated scheduler configuration as
// the options spell it.
func schedulerConfigurationOf(c *structs.SchedulerConfiguration) *SchedulerConfiguration {
	p := c.GetPreemptionConfig()
	return &SchedulerConfiguration{
		SchedulerAlgorithm:            c.GetSchedulerAlgorithm(),
		MemoryOversubscriptionEnabled: c.GetMemoryOversubscriptionEnabled(),
		RejectJobRegistration:         c.GetRejectJobRegistration(),
		PauseEvalBroker:               c.GetPauseEvalBroker(),
		PreemptionConfig: PreemptionConfig{
			SystemSchedulerEnabled:   p.GetSystemSchedulerEnabled(),
			SysBatchSchedulerEnabled: p.GetSysbatchSchedulerEnabled(),
			BatchSchedulerEnabled:    p.GetBatchSchedulerEnabled(),
			ServiceSchedulerEnabled:  p.GetServiceSchedulerEnabled(),
		},
	}
}

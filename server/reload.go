package server

import (
	"fmt"
	"time"

	"github.com/droverhq/drover/gc"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/server/raft"
)

// Tuning holds the settings a running server takes without a restart (a
// configuration reload, SIGHUP in the agent). A zero field leaves its
// setting as it is.
type Tuning struct {
	// RaftSnapshotThreshold, RaftSnapshotInterval and RaftTrailingLogs
	// apply from the next snapshot check on.
	RaftSnapshotThreshold uint64
	RaftSnapshotInterval  time.Duration
	RaftTrailingLogs      uint64
	// Heartbeat applies to the next heartbeat of each node (and the next
	// election's failover TTL).
	Heartbeat *heartbeat.Config
	// GC applies to the next collection; JobGCInterval from the next job
	// collection on.
	GC            *gc.Config
	JobGCInterval time.Duration
}

// Tune applies the settings a running server may change (see Tuning) and
// logs each one it changed.
func (s *Server) Tune(t Tuning) error {
	if t.Heartbeat != nil {
		if err := t.Heartbeat.Validate(); err != nil {
			return fmt.Errorf("%w: heartbeat settings: %v", ErrBadRequest, err)
		}
	}
	if t.RaftSnapshotThreshold > 0 || t.RaftSnapshotInterval > 0 || t.RaftTrailingLogs > 0 {
		s.raft.SetSnapshotSettings(raft.SnapshotSettings{
			Threshold: t.RaftSnapshotThreshold, Interval: t.RaftSnapshotInterval, TrailingLogs: t.RaftTrailingLogs,
		})
		cur := s.raft.SnapshotSettings()
		s.logger.Info("raft snapshot settings reloaded", "raft_snapshot_threshold", cur.Threshold,
			"raft_snapshot_interval", cur.Interval, "raft_trailing_logs", cur.TrailingLogs)
	}
	if t.Heartbeat != nil {
		s.ttl.mu.Lock()
		s.ttl.cfg = *t.Heartbeat
		s.ttl.mu.Unlock()
		s.logger.Info("heartbeat settings reloaded", "min_heartbeat_ttl", t.Heartbeat.MinTTL,
			"heartbeat_grace", t.Heartbeat.Grace, "max_heartbeats_per_second", t.Heartbeat.MaxPerSecond,
			"failover_heartbeat_ttl", t.Heartbeat.FailoverTTL)
	}
	if t.GC != nil || t.JobGCInterval > 0 {
		cur := s.gcSettings()
		if t.GC != nil {
			cur.cfg = *t.GC
		}
		if t.JobGCInterval > 0 {
			cur.jobInterval = t.JobGCInterval
		}
		s.gcTuning.Store(&cur)
		s.logger.Info("garbage collection settings reloaded", "job_gc_interval", cur.jobInterval,
			"job_gc_threshold", cur.cfg.JobGCThreshold, "eval_gc_threshold", cur.cfg.EvalGCThreshold,
			"node_gc_threshold", cur.cfg.NodeGCThreshold)
	}
	return nil
}

// gcTuned is the garbage collection settings in force.
type gcTuned struct {
	cfg         gc.Config
	jobInterval time.Duration
}

// gcSettings returns the GC settings in force: reloaded, or configured.
func (s *Server) gcSettings() gcTuned {
	if t := s.gcTuning.Load(); t != nil {
		return *t
	}
	iv := s.cfg.JobGCInterval
	if iv <= 0 {
		iv = 5 * time.Minute
	}
	return gcTuned{cfg: s.cfg.GC, jobInterval: iv}
}

package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/droverhq/drover/gc"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/server/raft"
)

// Tuning holds the settings a running server takes without a restart (a
// configuration reload, SIGHUP in the agent). A nil field leaves its
// settings as they are.
type Tuning struct {
	// Raft's snapshot policy (SnapshotThreshold, SnapshotInterval,
	// TrailingLogs) applies from the next snapshot check on; a zero field
	// keeps its setting, and the other fields need a restart.
	Raft *raft.Config
	// Heartbeat applies to the next heartbeat of each node (and the next
	// election's failover TTL).
	Heartbeat *heartbeat.Config
	// GC applies to the next collection, its JobGCInterval from the next
	// job collection on (zero keeps the interval in force).
	GC *gc.Config
}

// Tune applies the settings a running server may change (see Tuning) and
// logs each one it changed. It changes nothing when a setting is invalid.
func (s *Server) Tune(t Tuning) error {
	var errs []error
	if t.Heartbeat != nil {
		errs = append(errs, t.Heartbeat.Validate())
	}
	if t.GC != nil {
		errs = append(errs, t.GC.Validate())
	}
	if t.Raft != nil {
		errs = append(errs, t.Raft.WithDefaults().Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if r := t.Raft; r != nil && (r.SnapshotThreshold > 0 || r.SnapshotInterval > 0 || r.TrailingLogs > 0) {
		s.raft.SetSnapshotSettings(raft.SnapshotSettings{
			Threshold: r.SnapshotThreshold, Interval: r.SnapshotInterval, TrailingLogs: r.TrailingLogs,
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
	if t.GC != nil {
		cur := s.gcSettings()
		cur.cfg = *t.GC
		if t.GC.JobGCInterval > 0 {
			cur.jobInterval = t.GC.JobGCInterval
		}
		s.gcTuning.Store(&cur)
		s.logger.Info("garbage collection settings reloaded", "job_gc_interval", cur.jobInterval,
			"job_gc_threshold", cur.cfg.JobGCThreshold, "eval_gc_threshold", cur.cfg.EvalGCThreshold,
			"node_gc_threshold", cur.cfg.NodeGCThreshold, "deployment_gc_threshold", cur.cfg.DeploymentGCThreshold)
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
	iv := s.cfg.GC.JobGCInterval
	if iv <= 0 {
		iv = gc.DefaultConfig().JobGCInterval
	}
	return gcTuned{cfg: s.cfg.GC, jobInterval: iv}
}

package drover

import (
	"fmt"
	"reflect"

	"github.com/droverhq/drover/gc"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/server"
)

// reloadable are the ServerOptions a running server takes from
// ReloadOptions; every other setting needs a restart.
var reloadable = map[string]bool{
	"RaftSnapshotThreshold": true, "RaftSnapshotInterval": true, "RaftTrailingLogs": true,
	"HeartbeatGrace": true, "MinHeartbeatTTL": true, "MaxHeartbeatsPerSecond": true, "FailoverHeartbeatTTL": true,
	"NodeGCThreshold": true, "JobGCInterval": true, "JobGCThreshold": true, "EvalGCThreshold": true,
	"BatchEvalGCThreshold": true, "ACLTokenGCThreshold": true,
	// Set by the host for the process, not compared.
	"Logger": true, "Registerer": true, "Transport": true, "Store": true, "Schedulers": true,
}

// ReloadOptions applies a new configuration to the running server, as
// Nomad's agent does on SIGHUP: the raft snapshot settings
// (RaftSnapshotThreshold, RaftSnapshotInterval, RaftTrailingLogs), the
// heartbeat settings and the garbage collection settings change at once
// (the TLS certificate files are read again by Reload). It returns
// the names of the other settings that differ from the running ones:
// they take effect only after a restart. An invalid opts changes nothing.
func (s *Server) ReloadOptions(opts ServerOptions) (needRestart []string, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	next := opts.WithDefaults()
	cur := reflect.ValueOf(s.opts)
	nv := reflect.ValueOf(next)
	for i := range nv.NumField() {
		name := nv.Type().Field(i).Name
		if !reloadable[name] && !reflect.DeepEqual(cur.Field(i).Interface(), nv.Field(i).Interface()) {
			needRestart = append(needRestart, name)
		}
	}
	hb := heartbeat.Config{
		MinTTL: next.MinHeartbeatTTL, Grace: next.HeartbeatGrace,
		FailoverTTL: next.FailoverHeartbeatTTL, MaxPerSecond: next.MaxHeartbeatsPerSecond,
	}
	gcc := gc.Config{
		NodeGCThreshold: next.NodeGCThreshold, JobGCThreshold: next.JobGCThreshold,
		EvalGCThreshold: next.EvalGCThreshold, BatchEvalGCThreshold: next.BatchEvalGCThreshold,
		ACLTokenGCThreshold: next.ACLTokenGCThreshold,
	}
	if err := s.srv.Tune(server.Tuning{
		RaftSnapshotThreshold: next.RaftSnapshotThreshold, RaftSnapshotInterval: next.RaftSnapshotInterval,
		RaftTrailingLogs: next.RaftTrailingLogs, Heartbeat: &hb, GC: &gcc, JobGCInterval: next.JobGCInterval,
	}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	s.opts.RaftSnapshotThreshold, s.opts.RaftSnapshotInterval, s.opts.RaftTrailingLogs =
		next.RaftSnapshotThreshold, next.RaftSnapshotInterval, next.RaftTrailingLogs
	s.opts.HeartbeatGrace, s.opts.MinHeartbeatTTL, s.opts.MaxHeartbeatsPerSecond, s.opts.FailoverHeartbeatTTL =
		next.HeartbeatGrace, next.MinHeartbeatTTL, next.MaxHeartbeatsPerSecond, next.FailoverHeartbeatTTL
	s.opts.NodeGCThreshold, s.opts.JobGCInterval, s.opts.JobGCThreshold, s.opts.EvalGCThreshold =
		next.NodeGCThreshold, next.JobGCInterval, next.JobGCThreshold, next.EvalGCThreshold
	s.opts.BatchEvalGCThreshold, s.opts.ACLTokenGCThreshold = next.BatchEvalGCThreshold, next.ACLTokenGCThreshold
	return needRestart, nil
}

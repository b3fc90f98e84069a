package drover

import (
	"fmt"
	"reflect"

	"github.com/droverhq/drover/server"
)

// reloadable are the ServerOptions a running server takes from
// ReloadOptions; every other setting needs a restart. Raft is reloadable
// but for its Multiplier and BoltNoFreelistSync.
var reloadable = map[string]bool{
	"Heartbeat": true, "GC": true, "Raft": true,
	// Set by the host for the process, not compared.
	"Logger": true, "Registerer": true, "Clock": true, "Transport": true, "Store": true, "Schedulers": true,
}

// ReloadOptions applies a new configuration to the running server, as
// Nomad's agent does on SIGHUP: the raft snapshot settings
// (Raft.SnapshotThreshold, Raft.SnapshotInterval, Raft.TrailingLogs),
// the Heartbeat settings and the GC settings change at once (the TLS
// certificate files are read again by Reload). It returns the names of
// the other settings that differ from the running ones: they take effect
// only after a restart. An invalid opts changes nothing.
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
	if next.Raft.Multiplier != s.opts.Raft.Multiplier {
		needRestart = append(needRestart, "Raft.Multiplier")
	}
	if next.Raft.BoltNoFreelistSync != s.opts.Raft.BoltNoFreelistSync {
		needRestart = append(needRestart, "Raft.BoltNoFreelistSync")
	}
	if err := s.srv.Tune(server.Tuning{Raft: &next.Raft, Heartbeat: &next.Heartbeat, GC: &next.GC}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	multiplier, noFreelistSync := s.opts.Raft.Multiplier, s.opts.Raft.BoltNoFreelistSync
	s.opts.Raft, s.opts.Heartbeat, s.opts.GC = next.Raft, next.Heartbeat, next.GC
	s.opts.Raft.Multiplier, s.opts.Raft.BoltNoFreelistSync = multiplier, noFreelistSync
	return needRestart, nil
}

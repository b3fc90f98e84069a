package server

import (
	"sync/atomic"

	"github.com/droverhq/drover/server/statestream"
	"github.com/droverhq/drover/structs"
)

// pendingRestore is an operator restore being assembled from the log.
type pendingRestore struct {
	id    string
	seq   uint64
	state *structs.StateSnapshot
}

// restoreState holds the FSM's restore in progress. Every server applies
// the same entries, so every server holds the same pending restore.
type restoreState struct {
	pending *pendingRestore
	busy    atomic.Bool
}

// applyStateRestore adds one StateRestore entry; the final one replaces
// the whole state. An entry out of sequence abandons the restore, on every
// server alike.
func (f *fsm) applyStateRestore(index uint64, c *structs.StateRestore) (restored bool) {
	p := f.restores.pending
	if p == nil || p.id != c.RestoreId {
		if c.Seq != 0 {
			f.restores.set(nil)
			return false
		}
		p = &pendingRestore{id: c.RestoreId, state: &structs.StateSnapshot{}}
		f.restores.set(p)
	} else if c.Seq != p.seq+1 {
		f.restores.set(nil)
		return false
	}
	p.seq = c.Seq
	for _, rec := range c.Records {
		if err := statestream.MergeRecord(p.state, rec); err != nil {
			f.restores.set(nil)
			return false
		}
	}
	if !c.Final {
		return false
	}
	f.restores.set(nil)
	p.state.Index = index
	f.state.Restore(p.state)
	return true
}

func (r *restoreState) set(p *pendingRestore) {
	r.pending = p
	r.busy.Store(p != nil)
}

// restoring reports whether a restore is being assembled; raft snapshots
// wait until it is done, since its entries are only in the log.
func (f *fsm) restoring() bool { return f.restores.busy.Load() }

// Snapshot captures the state store's current view for a raft snapshot,
// unless a restore is being assembled.
func (f *fsm) Snapshot() (*structs.StateSnapshot, bool) {
	if f.restoring() {
		return nil, false
	}
	return f.state.Snapshot().Persist(), true
}

// Restore replaces the state with a raft snapshot's, dropping any restore
// in progress (the snapshot is newer than its entries).
func (f *fsm) Restore(st *structs.StateSnapshot) {
	f.restores.set(nil)
	f.state.Restore(st)
	if f.listener != nil {
		f.listener.stateRestored(st.GetIndex())
	}
}

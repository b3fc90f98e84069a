package server

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// maybeSnapshot starts a snapshot when enough entries were applied since
// the last one, checked on the jittered snapshot interval. The state is
// captured here, on the raft goroutine, at the applied index; writing it
// out happens in the background so raft keeps ticking.
func (rn *raftNode) maybeSnapshot() {
	now := time.Now()
	if now.Before(rn.nextSnap) {
		return
	}
	tune := rn.snapTuning()
	rn.nextSnap = now.Add(jitter(tune.interval))
	applied := rn.applied.Load()
	last := rn.snapIndex.Load()
	if applied <= last || applied-last < tune.threshold {
		return
	}
	if rn.fsm.restoring() {
		// A restore in progress lives only in the log until its last entry.
		return
	}
	if !rn.snapBusy.CompareAndSwap(false, true) {
		return
	}
	job, err := rn.captureSnapshot(applied)
	if err != nil {
		rn.snapBusy.Store(false)
		rn.cfg.logger.Warn("raft snapshot failed", "index", applied, "error", err)
		return
	}
	rn.snapWG.Add(1)
	go func() {
		defer rn.snapWG.Done()
		defer rn.snapBusy.Store(false)
		if err := job.write(); err != nil {
			rn.cfg.logger.Warn("raft snapshot failed", "index", applied, "error", err)
		}
	}()
}

// snapshotJob is a state captured at one index, to be written out.
type snapshotJob struct {
	rn     *raftNode
	index  uint64
	term   uint64
	cs     *raftpb.ConfState
	header *structs.SnapshotHeader
	state  *structs.StateSnapshot
}

// captureSnapshot takes what a snapshot at applied needs; it runs on the
// raft goroutine so that state, peers and conf state agree.
func (rn *raftNode) captureSnapshot(applied uint64) (*snapshotJob, error) {
	term, err := rn.store.Term(applied)
	if err != nil {
		return nil, fmt.Errorf("term of %d: %w", applied, err)
	}
	cs := proto.CloneOf(rn.confState)
	hdr, err := rn.header(applied, term, cs)
	if err != nil {
		return nil, err
	}
	return &snapshotJob{rn: rn, index: applied, term: term, cs: cs, header: hdr, state: rn.fsm.state.Snapshot().Persist()}, nil
}

func (rn *raftNode) header(index, term uint64, cs *raftpb.ConfState) (*structs.SnapshotHeader, error) {
	csb, err := proto.Marshal(cs)
	if err != nil {
		return nil, err
	}
	peers, removed := rn.peers.snapshot()
	return &structs.SnapshotHeader{
		Index: index, Term: term, ConfState: csb, Peers: peers, RemovedIds: removed,
		Region: rn.cfg.self.GetRegion(), CreatedAt: rn.cfg.now().UnixNano(),
	}, nil
}

// write streams the snapshot to the snapshot store, records it in the raft
// store and compacts the log, keeping the trailing logs so slow followers
// can catch up from the log rather than from a snapshot.
func (j *snapshotJob) write() error {
	rn := j.rn
	sink, err := rn.snaps.create(j.index, j.term)
	if err != nil {
		return err
	}
	if err := writeSnapshot(sink, j.header, j.state); err != nil {
		sink.abort()
		return err
	}
	data, err := sink.commit()
	if err != nil {
		return err
	}
	if _, err := rn.store.CreateSnapshot(j.index, j.cs, data); err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return nil // a newer snapshot arrived from the leader meanwhile
		}
		return err
	}
	rn.snapIndex.Store(j.index)
	rn.cfg.metrics.snapshots.WithLabelValues("taken").Inc()
	rn.cfg.metrics.snapshotIndex.Set(float64(j.index))
	rn.snaps.prune(data)
	if trailing := rn.snapTuning().trailing; j.index > trailing {
		first, err := rn.store.FirstIndex()
		if err != nil {
			return err
		}
		if compact := j.index - trailing; compact > first {
			if err := rn.store.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
				return err
			}
		}
	}
	rn.cfg.logger.Info("raft snapshot taken", "index", j.index, "term", j.term)
	return nil
}

// restoreSnapshot replaces the FSM state and the peer set with a snapshot's.
func (rn *raftNode) restoreSnapshot(snap *raftpb.Snapshot) error {
	idx := snap.GetMetadata().GetIndex()
	r, err := rn.snaps.open(snap.GetData())
	if err != nil {
		return fmt.Errorf("open snapshot at %d: %w", idx, err)
	}
	defer r.Close()
	hdr, st, err := readSnapshot(r)
	if err != nil {
		return fmt.Errorf("read snapshot at %d: %w", idx, err)
	}
	if hdr.Index != idx {
		return fmt.Errorf("%w: snapshot file holds index %d, raft expects %d", ErrBadSnapshot, hdr.Index, idx)
	}
	rn.fsm.restore(st)
	rn.peers.restore(idx, hdr.Peers, hdr.RemovedIds)
	rn.transport.setPeers(hdr.Peers)
	rn.confState = snap.GetMetadata().GetConfState()
	rn.snapIndex.Store(idx)
	rn.cfg.metrics.snapshotIndex.Set(float64(idx))
	rn.cfg.logger.Info("state restored from raft snapshot", "index", idx)
	if rn.cfg.onPeersChange != nil {
		rn.cfg.onPeersChange()
	}
	return nil
}

package raft

import (
	"errors"
	"fmt"

	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/statestream"
	"github.com/droverhq/drover/structs"
)

// maybeSnapshot takes a raft snapshot when the snapshot policy says one is
// due. The FSM's state is captured here, on the raft goroutine, at the
// applied index; writing it out happens in the background so raft keeps
// ticking.
func (rn *Node) maybeSnapshot() {
	applied := rn.applied.Load()
	set := rn.SnapshotSettings()
	rn.snapPolicy.threshold, rn.snapPolicy.interval = set.Threshold, set.Interval
	if !rn.snapPolicy.due(rn.cfg.Clock.Now(), applied, rn.snapIndex.Load()) {
		return
	}
	if !rn.snapBusy.CompareAndSwap(false, true) {
		return
	}
	job, ok, err := rn.captureSnapshot(applied)
	if !ok || err != nil {
		rn.snapBusy.Store(false)
		if err != nil {
			rn.cfg.Logger.Warn("raft snapshot failed", "index", applied, "error", err)
		}
		return
	}
	rn.snapWG.Add(1)
	go func() {
		defer rn.snapWG.Done()
		defer rn.snapBusy.Store(false)
		if err := job.write(); err != nil {
			rn.cfg.Logger.Warn("raft snapshot failed", "index", applied, "error", err)
		}
	}()
}

// snapshotJob is a state captured at one index, to be written out.
type snapshotJob struct {
	rn     *Node
	index  uint64
	term   uint64
	cs     *raftpb.ConfState
	header *structs.SnapshotHeader
	state  *structs.StateSnapshot
}

// captureSnapshot takes what a raft snapshot at applied needs; it runs on
// the raft goroutine so that state, peers and conf state agree. ok is
// false when the FSM cannot be captured now.
func (rn *Node) captureSnapshot(applied uint64) (job *snapshotJob, ok bool, err error) {
	state, ok := rn.fsm.Snapshot()
	if !ok {
		return nil, false, nil
	}
	term, err := rn.logs.Term(applied)
	if err != nil {
		return nil, true, fmt.Errorf("term of %d: %w", applied, err)
	}
	cs := proto.CloneOf(rn.confState)
	hdr, err := rn.header(applied, term, cs)
	if err != nil {
		return nil, true, err
	}
	return &snapshotJob{rn: rn, index: applied, term: term, cs: cs, header: hdr, state: state}, true, nil
}

func (rn *Node) header(index, term uint64, cs *raftpb.ConfState) (*structs.SnapshotHeader, error) {
	csb, err := proto.Marshal(cs)
	if err != nil {
		return nil, err
	}
	peers, removed := rn.peers.Contents()
	return &structs.SnapshotHeader{
		Index: index, Term: term, ConfState: csb, Peers: peers, RemovedIds: removed,
		Region: rn.cfg.Self.GetRegion(), CreatedAt: rn.cfg.Clock.Now().UnixNano(),
	}, nil
}

// write streams the state to a new file of the snapshot store, records
// the raft snapshot in the log store and compacts the log, keeping the
// trailing logs so slow followers can catch up from the log rather than
// from a snapshot.
func (j *snapshotJob) write() error {
	rn := j.rn
	sink, err := rn.snaps.Create(j.index, j.term)
	if err != nil {
		return err
	}
	if err := statestream.Write(sink, j.header, j.state); err != nil {
		sink.Abort()
		return err
	}
	data, err := sink.Commit()
	if err != nil {
		return err
	}
	if _, err := rn.logs.CreateSnapshot(j.index, j.cs, data); err != nil {
		if errors.Is(err, etcdraft.ErrSnapOutOfDate) {
			return nil // a newer snapshot arrived from the leader meanwhile
		}
		return err
	}
	rn.snapIndex.Store(j.index)
	rn.metrics.snapshots.WithLabelValues("taken").Inc()
	rn.metrics.snapshotIndex.Set(float64(j.index))
	rn.snaps.Prune(data)
	if trailing := rn.SnapshotSettings().TrailingLogs; j.index > trailing {
		first, err := rn.logs.FirstIndex()
		if err != nil {
			return err
		}
		if compact := j.index - trailing; compact > first {
			if err := rn.logs.Compact(compact); err != nil && !errors.Is(err, etcdraft.ErrCompacted) {
				return err
			}
		}
	}
	rn.cfg.Logger.Info("raft snapshot taken", "index", j.index, "term", j.term)
	return nil
}

// restoreSnapshot replaces the FSM's state and the peer set with those a
// raft snapshot holds.
func (rn *Node) restoreSnapshot(snap *raftpb.Snapshot) error {
	idx := snap.GetMetadata().GetIndex()
	r, err := rn.snaps.Open(snap.GetData())
	if err != nil {
		return fmt.Errorf("open snapshot at %d: %w", idx, err)
	}
	defer r.Close()
	hdr, st, err := statestream.Read(r)
	if err != nil {
		return fmt.Errorf("read snapshot at %d: %w", idx, err)
	}
	if hdr.Index != idx {
		return fmt.Errorf("%w: snapshot file holds index %d, raft expects %d", statestream.ErrBadStream, hdr.Index, idx)
	}
	rn.fsm.Restore(st)
	rn.peers.restore(idx, hdr.Peers, hdr.RemovedIds)
	rn.transport.setPeers(hdr.Peers)
	rn.confState = snap.GetMetadata().GetConfState()
	rn.snapIndex.Store(idx)
	rn.metrics.snapshotIndex.Set(float64(idx))
	rn.cfg.Logger.Info("state restored from raft snapshot", "index", idx)
	if rn.cfg.OnPeersChange != nil {
		rn.cfg.OnPeersChange()
	}
	return nil
}

package raft

import (
	"fmt"

	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// drainReady handles every Ready raft has: the documented order, one
// durable batch per Ready, then Advance.
func (rn *Node) drainReady() error {
	for rn.rn.HasReady() {
		rd := rn.rn.Ready()
		if err := rn.handleReady(rd); err != nil {
			return err
		}
		rn.rn.Advance(rd)
		rn.campaignIfAlone()
	}
	return nil
}

func (rn *Node) handleReady(rd etcdraft.Ready) error {
	if rd.SoftState != nil {
		// Losing leadership fails waiters before any further entry is applied.
		rn.setLeader(rd.SoftState.RaftState == etcdraft.StateLeader, rd.SoftState.Lead)
	}
	if !etcdraft.IsEmptyHardState(rd.HardState) {
		rn.term.Store(rd.HardState.GetTerm())
	}
	// A leader replicates while it writes its own disk (raft thesis
	// 10.2.1): its messages are appends and heartbeats, never votes, so
	// they do not depend on what this Ready persists. Anyone else sends
	// only once the Ready is durable.
	leading := rn.leader.Load()
	if leading {
		rn.transport.send(rd.Messages)
	}
	if err := rn.logs.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return fmt.Errorf("persist ready: %w", err)
	}
	if !etcdraft.IsEmptySnap(rd.Snapshot) {
		if err := rn.restoreSnapshot(rd.Snapshot); err != nil {
			return err
		}
		rn.metrics.snapshots.WithLabelValues("installed").Inc()
		rn.snaps.Prune(rd.Snapshot.GetData())
		rn.setApplied(rd.Snapshot.GetMetadata().GetIndex())
	}
	if !leading {
		rn.transport.send(rd.Messages)
	}
	if err := rn.applyEntries(rd.CommittedEntries); err != nil {
		return err
	}
	if len(rd.CommittedEntries) > 0 {
		var size int
		for _, e := range rd.CommittedEntries {
			size += len(e.GetData())
		}
		rn.metrics.appliedEntries.Add(float64(len(rd.CommittedEntries)))
		rn.metrics.appliedBytes.Add(float64(size))
		rn.notifyApplied() // once per Ready, not per entry
	}
	for _, rs := range rd.ReadStates {
		rn.pendingReads = append(rn.pendingReads, pendingRead{id: readID(rs.RequestCtx), index: rs.Index})
	}
	rn.releaseReads()
	// A follower is caught up once it applied what the leader had committed
	// when it first heard of it; a leader is ready once its services run.
	if lead := rn.leaderID.Load(); !rn.caughtUp && lead != 0 && lead != rn.cfg.ID && rn.applied.Load() >= rn.rn.BasicStatus().GetCommit() {
		rn.caughtUp = true
		if rn.cfg.OnCaughtUp != nil {
			rn.cfg.OnCaughtUp()
		}
	}
	return nil
}

// campaignIfAlone starts an election at once when this server is the only
// voter and there is no leader: a lone voter need not wait out an election
// timeout. It runs after Advance, once the configuration is applied.
func (rn *Node) campaignIfAlone() {
	if rn.leaderID.Load() != 0 || rn.campaigned {
		return
	}
	if v := rn.confState.GetVoters(); len(v) == 1 && v[0] == rn.cfg.ID {
		rn.campaigned = true
		_ = rn.rn.Campaign()
	}
}

// applyEntries applies committed entries in log order. Normal entries go
// to the FSM together, up to the next membership change, when the FSM
// applies batches; each proposer hears its own entry's result once its
// batch is applied.
func (rn *Node) applyEntries(entries []*raftpb.Entry) error {
	var batch []*raftpb.Entry
	var cmds []Command
	flush := func() {
		if len(batch) == 0 {
			return
		}
		errs := rn.applyCommands(cmds)
		for _, e := range batch {
			rn.entryDone(e)
		}
		// A proposer finds the applied index past its entry when it wakes.
		for i, c := range cmds {
			rn.trigger(c.Cmd.RequestId, applyResult{index: c.Index, err: errs[i]})
		}
		batch, cmds = batch[:0], cmds[:0]
	}
	for _, e := range entries {
		if e.GetType() != raftpb.EntryType_EntryNormal {
			flush()
			if err := rn.applyConfEntry(e); err != nil {
				return err
			}
			rn.entryDone(e)
			continue
		}
		batch = append(batch, e)
		// An empty entry is the one a new leader appends: nothing to apply.
		if len(e.GetData()) == 0 {
			continue
		}
		cmd := &structs.LogCommand{}
		if err := proto.Unmarshal(e.GetData(), cmd); err != nil {
			// An entry no server can decode was proposed by a bug, not by input:
			// skip it on every server alike rather than stop.
			rn.cfg.Logger.Error("skipping undecodable raft entry", "index", e.GetIndex(),
				"error", fmt.Errorf("fsm: decode entry %d: %w", e.GetIndex(), err))
			continue
		}
		cmds = append(cmds, Command{Index: e.GetIndex(), Cmd: cmd})
	}
	flush()
	return nil
}

// applyCommands hands commands to the FSM, as one batch when it takes them.
func (rn *Node) applyCommands(cmds []Command) []error {
	if b, ok := rn.fsm.(BatchFSM); ok {
		errs := b.ApplyBatch(cmds)
		if len(errs) == len(cmds) {
			return errs
		}
		rn.cfg.Logger.Error("fsm returned the wrong number of results", "want", len(cmds), "got", len(errs))
		return make([]error, len(cmds))
	}
	errs := make([]error, len(cmds))
	for i, c := range cmds {
		errs[i] = rn.fsm.Apply(c.Index, c.Cmd)
	}
	return errs
}

// entryDone records e as applied.
func (rn *Node) entryDone(e *raftpb.Entry) {
	if !rn.leaderReady.Load() && rn.leader.Load() && e.GetTerm() == rn.term.Load() {
		rn.leaderReady.Store(true)
	}
	rn.applied.Store(e.GetIndex())
}

// applyConfEntry applies a membership change entry.
func (rn *Node) applyConfEntry(e *raftpb.Entry) error {
	switch e.GetType() {
	case raftpb.EntryType_EntryConfChange:
		cc := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return fmt.Errorf("decode conf change %d: %w", e.GetIndex(), err)
		}
		rn.applyConfChange(e.GetIndex(), cc)
	case raftpb.EntryType_EntryConfChangeV2:
		// This server never proposes joint changes; apply one faithfully if
		// it appears, so raft's view stays whole.
		cc := &raftpb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return fmt.Errorf("decode conf change %d: %w", e.GetIndex(), err)
		}
		rn.confState = rn.rn.ApplyConfChange(cc)
	}
	return nil
}

// applyConfChange applies one membership change. It always calls raft's
// ApplyConfChange; a change the peer set refuses goes in with its node id
// zeroed, which raft ignores.
func (rn *Node) applyConfChange(index uint64, cc *raftpb.ConfChange) {
	ok := rn.peers.admit(cc)
	if ok {
		rn.peers.apply(index, cc)
	} else {
		rn.cfg.Logger.Warn("refusing raft configuration change", "index", index, "type", cc.GetType().String(), "id", fmt.Sprintf("%x", cc.GetNodeId()))
		cc = proto.CloneOf(cc)
		cc.NodeId = proto.Uint64(0)
	}
	rn.confState = rn.rn.ApplyConfChange(cc)
	if ok {
		rn.cfg.Logger.Info("raft configuration changed", "index", index, "type", cc.GetType().String(),
			"id", fmt.Sprintf("%x", cc.GetNodeId()), "voters", len(rn.confState.GetVoters()), "learners", len(rn.confState.GetLearners()))
		rn.transport.setPeers(rn.peers.List())
		if rn.cfg.OnPeersChange != nil {
			rn.cfg.OnPeersChange()
		}
	}
}

func (rn *Node) setApplied(index uint64) {
	rn.applied.Store(index)
	rn.notifyApplied()
}

// notifyApplied wakes whoever waits for the applied index to move.
func (rn *Node) notifyApplied() {
	rn.notifyMu.Lock()
	close(rn.appliedCh)
	rn.appliedCh = make(chan struct{})
	rn.notifyMu.Unlock()
}

func (rn *Node) setLeader(isLeader bool, lead uint64) {
	old := rn.leaderID.Swap(lead)
	if old != lead {
		rn.metrics.leaderChanges.Inc()
	}
	was := rn.leader.Swap(isLeader)
	if was != isLeader || old != lead {
		rn.leaderReady.Store(false)
	}
	if was && !isLeader {
		rn.failWaiters(errLeadershipLost)
	}
	if old != lead {
		rn.notifyMu.Lock()
		close(rn.leaderCh)
		rn.leaderCh = make(chan struct{})
		rn.notifyMu.Unlock()
		if lead != 0 {
			rn.cfg.Logger.Info("raft leader", "leader", fmt.Sprintf("%x", lead), "self", lead == rn.cfg.ID)
		}
	}
	if was != isLeader && rn.cfg.OnLeaderChange != nil {
		rn.cfg.OnLeaderChange(isLeader)
	}
}

// releaseReads answers read-index requests whose index is applied.
func (rn *Node) releaseReads() {
	if len(rn.pendingReads) == 0 {
		return
	}
	applied := rn.applied.Load()
	rest := rn.pendingReads[:0]
	for _, r := range rn.pendingReads {
		if r.index > applied {
			rest = append(rest, r)
			continue
		}
		rn.waitMu.Lock()
		ch := rn.reads[r.id]
		delete(rn.reads, r.id)
		rn.waitMu.Unlock()
		if ch != nil {
			ch <- r.index
		}
	}
	rn.pendingReads = rest
}

func (rn *Node) trigger(id uint64, res applyResult) {
	rn.waitMu.Lock()
	ch := rn.waits[id]
	delete(rn.waits, id)
	rn.waitMu.Unlock()
	if ch != nil {
		ch <- res
	}
}

func (rn *Node) failWaiters(err error) {
	rn.waitMu.Lock()
	defer rn.waitMu.Unlock()
	for id, ch := range rn.waits {
		ch <- applyResult{err: err}
		delete(rn.waits, id)
	}
}

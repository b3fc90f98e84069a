package raft

import (
	"cmp"
	"slices"
	"sort"
	"sync"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// PeerSet is the raft peer set as the log describes it: who the servers
// are and where their RPC listens. It changes only when a configuration
// change or a snapshot is applied, on the raft goroutine, so every server
// holds the same set at the same index. Raft ids are never reused: a
// removed id stays in removed and may not come back. Its exported methods
// read it; only the node changes it.
type PeerSet struct {
	mu      sync.RWMutex
	peers   map[uint64]*structs.RaftPeer
	removed map[uint64]bool
	// addrs is every peer's RPC address, rebuilt on change: heartbeat
	// replies hand it out without work per call.
	addrs []string
	// changedAt is the raft index of the last change.
	changedAt uint64
}

func newPeerSet() *PeerSet {
	return &PeerSet{peers: map[uint64]*structs.RaftPeer{}, removed: map[uint64]bool{}}
}

func encodePeer(p *structs.RaftPeer) []byte {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	return b
}

func decodePeer(b []byte) (*structs.RaftPeer, bool) {
	p := &structs.RaftPeer{}
	if err := proto.Unmarshal(b, p); err != nil || p.Id == 0 {
		return nil, false
	}
	return p, true
}

// admit decides whether a configuration change may be applied. A change
// that is refused is applied with its node id zeroed, which raft ignores;
// every server decides alike because the set is the same at that index.
func (ps *PeerSet) admit(cc *raftpb.ConfChange) bool {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	id := cc.GetNodeId()
	if id == 0 {
		return false
	}
	switch cc.GetType() {
	case raftpb.ConfChangeType_ConfChangeAddNode, raftpb.ConfChangeType_ConfChangeAddLearnerNode, raftpb.ConfChangeType_ConfChangeUpdateNode:
		if ps.removed[id] {
			return false
		}
		p, ok := decodePeer(cc.GetContext())
		if !ok || p.Id != id {
			// A promotion of a known learner may carry no context.
			_, known := ps.peers[id]
			return known && len(cc.GetContext()) == 0 && cc.GetType() == raftpb.ConfChangeType_ConfChangeAddNode
		}
		return true
	case raftpb.ConfChangeType_ConfChangeRemoveNode:
		return true
	}
	return false
}

// apply records an admitted configuration change made at index.
func (ps *PeerSet) apply(index uint64, cc *raftpb.ConfChange) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.changedAt = index
	id := cc.GetNodeId()
	switch cc.GetType() {
	case raftpb.ConfChangeType_ConfChangeAddNode, raftpb.ConfChangeType_ConfChangeAddLearnerNode, raftpb.ConfChangeType_ConfChangeUpdateNode:
		p, ok := decodePeer(cc.GetContext())
		if !ok {
			p = proto.CloneOf(ps.peers[id])
		}
		switch cc.GetType() {
		case raftpb.ConfChangeType_ConfChangeAddNode:
			p.Voter = true
		case raftpb.ConfChangeType_ConfChangeAddLearnerNode:
			p.Voter = false
		case raftpb.ConfChangeType_ConfChangeUpdateNode:
			if old := ps.peers[id]; old != nil {
				p.Voter = old.Voter
			}
		}
		ps.peers[id] = p
	case raftpb.ConfChangeType_ConfChangeRemoveNode:
		delete(ps.peers, id)
		ps.removed[id] = true
	}
	ps.rebuildLocked()
}

// restore replaces the set with the one a snapshot at index recorded.
func (ps *PeerSet) restore(index uint64, peers []*structs.RaftPeer, removed []uint64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.changedAt = max(ps.changedAt, index)
	ps.peers = make(map[uint64]*structs.RaftPeer, len(peers))
	for _, p := range peers {
		ps.peers[p.Id] = proto.CloneOf(p)
	}
	ps.removed = make(map[uint64]bool, len(removed))
	for _, id := range removed {
		ps.removed[id] = true
	}
	ps.rebuildLocked()
}

func (ps *PeerSet) rebuildLocked() {
	ps.addrs = ps.addrs[:0:0]
	for _, p := range ps.peers {
		if p.Addr != "" {
			ps.addrs = append(ps.addrs, p.Addr)
		}
	}
	sort.Strings(ps.addrs)
}

// List returns the peers, sorted by id.
func (ps *PeerSet) List() []*structs.RaftPeer {
	peers, _ := ps.Contents()
	return peers
}

// Contents returns the peers, sorted by id, and the ids removed from the
// set, sorted: what a raft snapshot's header records.
func (ps *PeerSet) Contents() ([]*structs.RaftPeer, []uint64) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	peers := make([]*structs.RaftPeer, 0, len(ps.peers))
	for _, p := range ps.peers {
		peers = append(peers, proto.CloneOf(p))
	}
	slices.SortFunc(peers, func(a, b *structs.RaftPeer) int { return cmp.Compare(a.Id, b.Id) })
	removed := make([]uint64, 0, len(ps.removed))
	for id := range ps.removed {
		removed = append(removed, id)
	}
	slices.Sort(removed)
	return peers, removed
}

// Get returns the peer with id, or nil.
func (ps *PeerSet) Get(id uint64) *structs.RaftPeer {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.peers[id]
}

// ByName returns the peer named name, or nil.
func (ps *PeerSet) ByName(name string) *structs.RaftPeer {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	for _, p := range ps.peers {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// IsRemoved reports whether id was removed from the set.
func (ps *PeerSet) IsRemoved(id uint64) bool {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.removed[id]
}

// Addrs returns every peer's RPC address, sorted; the caller must not
// modify it.
func (ps *PeerSet) Addrs() []string {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.addrs
}

// Len is the number of peers.
func (ps *PeerSet) Len() int {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return len(ps.peers)
}

// Index is the raft index of the set's last change.
func (ps *PeerSet) Index() uint64 {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.changedAt
}

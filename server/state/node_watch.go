package state

import "sync"

// nodeWatches tell a blocking query on one node's allocations (a client's
// long-poll) when they change, so that a change elsewhere in the state
// wakes none of the thousands of clients waiting.
type nodeWatches struct {
	mu sync.Mutex
	// waiting holds, per node, the channel closed at the next commit that
	// changes one of the node's allocations.
	waiting map[string]chan struct{}
	// changed is, per node, the index of the last commit that changed one
	// of its allocations (deletions included), since this store started.
	changed map[string]uint64
	// removed is, per node, the index of the last commit that took one of
	// its allocations away (deleted, or moved to another node).
	removed map[string]uint64
	// restored is the index of the last restore, which may have changed
	// any node's allocations.
	restored uint64
}

// NodeAllocsRemoved returns the index of the last commit this store knows
// of that took an allocation away from the node: a client holding the
// node's list as of a later index can keep it and add what changed.
// Before anything is known (a store that started from a restore) it is
// the restore's index.
func (s *Store) NodeAllocsRemoved(nodeID string) uint64 {
	w := &s.nodes
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(w.removed[nodeID], w.restored)
}

// NodeAllocsChange returns the index of the last change to the node's
// allocations this store knows of (0 when none since it started: the
// allocations' own modify indexes tell the rest), and a channel closed at
// the next commit that changes them. Read it before the allocations, so
// that a change between the two is not missed.
func (s *Store) NodeAllocsChange(nodeID string) (uint64, <-chan struct{}) {
	w := &s.nodes
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == nil {
		w.waiting = map[string]chan struct{}{}
	}
	ch := w.waiting[nodeID]
	if ch == nil {
		ch = make(chan struct{})
		w.waiting[nodeID] = ch
	}
	return max(w.changed[nodeID], w.restored), ch
}

// nodeAllocsChanged records a commit at index that changed the
// allocations of nodes (removing some from those in removed), and wakes
// their waiters.
func (s *Store) nodeAllocsChanged(nodes, removed map[string]bool, index uint64) {
	if len(nodes) == 0 {
		return
	}
	w := &s.nodes
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed == nil {
		w.changed = map[string]uint64{}
	}
	if len(removed) > 0 && w.removed == nil {
		w.removed = map[string]uint64{}
	}
	for n := range removed {
		w.removed[n] = index
	}
	for n := range nodes {
		w.changed[n] = index
		if ch := w.waiting[n]; ch != nil {
			close(ch)
			delete(w.waiting, n)
		}
	}
}

// allocsRestored records a restore at index and wakes every waiter.
func (s *Store) allocsRestored(index uint64) {
	w := &s.nodes
	w.mu.Lock()
	defer w.mu.Unlock()
	w.restored = index
	for n, ch := range w.waiting {
		close(ch)
		delete(w.waiting, n)
	}
}

// touchNode notes that the transaction changes the node's allocations.
func (tx *Txn) touchNode(nodeID string) {
	if tx.allocNodes == nil {
		tx.allocNodes = map[string]bool{}
	}
	tx.allocNodes[nodeID] = true
}

// removeFromNode notes that the transaction takes an allocation away from
// the node.
func (tx *Txn) removeFromNode(nodeID string) {
	tx.touchNode(nodeID)
	if tx.allocsRemoved == nil {
		tx.allocsRemoved = map[string]bool{}
	}
	tx.allocsRemoved[nodeID] = true
}

package state

import "sync"

// nodeWatches tell a blocking query on one node's allocations (a client's
// long-poll) when they change, so that a change elsewhere in the state
// wakes none of the thousands of clients waiting. Two watches are kept
// per node: every change, and the changes the servers made (anything but
// the node's own status reports), for a client that keeps its reports
// itself.
type nodeWatches struct {
	mu sync.Mutex
	// all follows every change to a node's allocations (deletions
	// included), server follows those the servers made.
	all, server changeWatch
	// removed is, per node, the index of the last commit that took one of
	// its allocations away (deleted, or moved to another node).
	removed map[string]uint64
	// restored is the index of the last restore, which may have changed
	// any node's allocations.
	restored uint64
}

// changeWatch is, per node, the index of the last commit that changed the
// node's allocations since this store started, and the channel closed at
// the next one.
type changeWatch struct {
	index   map[string]uint64
	waiting map[string]chan struct{}
}

// next returns the node's last change index and the channel closed at its
// next change.
func (c *changeWatch) next(nodeID string) (uint64, <-chan struct{}) {
	if c.waiting == nil {
		c.waiting = map[string]chan struct{}{}
	}
	ch := c.waiting[nodeID]
	if ch == nil {
		ch = make(chan struct{})
		c.waiting[nodeID] = ch
	}
	return c.index[nodeID], ch
}

// changed records a change of the node's allocations at index and wakes
// its waiters.
func (c *changeWatch) changed(nodeID string, index uint64) {
	if c.index == nil {
		c.index = map[string]uint64{}
	}
	c.index[nodeID] = index
	if ch := c.waiting[nodeID]; ch != nil {
		close(ch)
		delete(c.waiting, nodeID)
	}
}

// wakeAll wakes every waiter.
func (c *changeWatch) wakeAll() {
	for n, ch := range c.waiting {
		close(ch)
		delete(c.waiting, n)
	}
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
// the next commit that changes them. With serverOnly, the node's own
// status reports (Txn.ReportAlloc) count as no change: the index and the
// channel follow what the servers changed, which the allocations'
// AllocModifyIndex records. Read it before the allocations, so that a
// change between the two is not missed.
func (s *Store) NodeAllocsChange(nodeID string, serverOnly bool) (uint64, <-chan struct{}) {
	w := &s.nodes
	w.mu.Lock()
	defer w.mu.Unlock()
	c := &w.all
	if serverOnly {
		c = &w.server
	}
	index, ch := c.next(nodeID)
	return max(index, w.restored), ch
}

// nodeAllocsChanged records a commit at index that changed the
// allocations of nodes (true: a change by the servers; false: the node's
// own reports only), removing some from those in removed, and wakes their
// waiters.
func (s *Store) nodeAllocsChanged(nodes, removed map[string]bool, index uint64) {
	if len(nodes) == 0 {
		return
	}
	w := &s.nodes
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(removed) > 0 && w.removed == nil {
		w.removed = map[string]uint64{}
	}
	for n := range removed {
		w.removed[n] = index
	}
	for n, byServer := range nodes {
		w.all.changed(n, index)
		if byServer {
			w.server.changed(n, index)
		}
	}
}

// allocsRestored records a restore at index and wakes every waiter.
func (s *Store) allocsRestored(index uint64) {
	w := &s.nodes
	w.mu.Lock()
	defer w.mu.Unlock()
	w.restored = index
	w.all.wakeAll()
	w.server.wakeAll()
}

// touchNode notes that the transaction changes the node's allocations:
// byServer unless it only records the node's own status reports.
func (tx *Txn) touchNode(nodeID string, byServer bool) {
	if tx.allocNodes == nil {
		tx.allocNodes = map[string]bool{}
	}
	tx.allocNodes[nodeID] = tx.allocNodes[nodeID] || byServer
}

// removeFromNode notes that the transaction takes an allocation away from
// the node.
func (tx *Txn) removeFromNode(nodeID string) {
	tx.touchNode(nodeID, true)
	if tx.allocsRemoved == nil {
		tx.allocsRemoved = map[string]bool{}
	}
	tx.allocsRemoved[nodeID] = true
}

// Package store defines where a raft node keeps its log, hard state and
// latest snapshot. store/bolt is the durable default; store/inmem keeps
// everything in memory for tests and for embedders who want that.
package store

import (
	"errors"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// ErrClosed is returned by every method of a closed Store.
var ErrClosed = errors.New("store: closed")

// Store is the durable home of one raft node's log, hard state and latest
// snapshot. raft reads it through raft.Storage from its own goroutine while
// the node's Ready loop writes, so implementations are safe for concurrent use.
type Store interface {
	raft.Storage

	// Save persists, as one durable batch and in this order: the snapshot
	// (when not empty, the log before it is discarded and it becomes the
	// log's base), the entries (an entry at an index already present
	// truncates the log from there first), and the hard state (when not empty).
	Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error

	// CreateSnapshot records an application snapshot taken at index, which
	// must be within the log and newer than the current snapshot
	// (raft.ErrSnapOutOfDate otherwise).
	CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error)

	// Compact discards the entries before index, which must not exceed the
	// last index (raft.ErrCompacted if it is already compacted).
	Compact(index uint64) error

	// Close releases the store; later calls return ErrClosed.
	Close() error
}

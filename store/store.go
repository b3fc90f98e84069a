// Package store defines where a raft node keeps its log, hard state and
// latest snapshot. Implementations live in the sub-packages: store/bolt
// keeps them in one bbolt file, store/inmem keeps them in memory.
package store

import (
	"errors"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// The errors raft itself recognises are re-exported here, with the same
// identity: raft compares them with ==, so implementations return them
// unwrapped from the raft.Storage methods.
var (
	// ErrCompacted is returned when a requested index predates the log's
	// first index because it was compacted into a snapshot.
	ErrCompacted = raft.ErrCompacted
	// ErrUnavailable is returned when a requested index is past the end of
	// the log.
	ErrUnavailable = raft.ErrUnavailable
	// ErrSnapOutOfDate is returned when a snapshot is not newer than the one
	// the store already holds.
	ErrSnapOutOfDate = raft.ErrSnapOutOfDate
	// ErrClosed is returned by every method of a store after Close.
	ErrClosed = errors.New("store: closed")
)

// Store is the durable home of one raft node's log, hard state and latest
// snapshot. All methods are safe for concurrent use: raft reads the store
// from its node goroutine while the application goroutine writes to it.
//
// Entries and Term return ErrCompacted and ErrUnavailable unwrapped when raft
// asks for an index outside the log, as raft.MemoryStorage does. Requests
// that raft.MemoryStorage would panic on (an Entries range past the end of
// the log, a gap in saved entries, a snapshot or compaction past the last
// index) return an error instead.
type Store interface {
	raft.Storage

	// Save persists, in one durable batch and in this order: the snapshot
	// (if not empty: the log before it is discarded and it becomes the log's
	// base), the entries (an entry at an index already present truncates the
	// log from there first: conflict overwrite), and the hard state (if not
	// empty). hs, ents and snap may each be nil. Entries must have
	// consecutive indexes and must not leave a gap after the last index;
	// entries at or before the log's base are ignored. On error nothing is
	// saved.
	Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error

	// CreateSnapshot records an application snapshot taken at index (at most
	// the last applied index) with the given conf state and data, and
	// returns it. A nil cs keeps the conf state of the previous snapshot.
	// It returns ErrSnapOutOfDate if index is not newer than the current
	// snapshot. The log is left as it is: call Compact to discard it.
	CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error)

	// Compact discards the log entries before index; the entry at index
	// becomes the log's base and keeps only its term. It returns
	// ErrCompacted if index is not after the current base (FirstIndex-1),
	// and an error if index is past the last index.
	Compact(index uint64) error

	// Close releases the store. Every later call returns ErrClosed, except
	// Close itself, which returns nil.
	Close() error
}

// Metadata is implemented by stores that keep a few small named values
// beside the raft log, such as the server's raft id, so that they share the
// log's durability and lifetime. Both stores of this module implement it.
type Metadata interface {
	// Meta returns the value saved under key, or nil when there is none.
	Meta(key string) ([]byte, error)
	// SetMeta durably saves value under key, replacing any earlier value.
	SetMeta(key string, value []byte) error
}

// Package logrange holds the index arithmetic shared by the store
// implementations, so that they check requests against the log's bounds
// exactly as raft.MemoryStorage does and return the same errors.
//
// A log is described by its base (the index of the dummy entry that only
// keeps a term: the snapshot index or the last compaction point) and its
// last index; it holds entries (base, last].
package logrange

import (
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Append returns the part of ents that a Save writes onto the log
// (base, last]: the entries after base. It returns an error, and no entries,
// if ents do not have consecutive indexes or would leave a gap after last.
func Append(base, last uint64, ents []*raftpb.Entry) ([]*raftpb.Entry, error) {
	if len(ents) == 0 {
		return nil, nil
	}
	first := ents[0].GetIndex()
	for i, e := range ents[1:] {
		if want := first + uint64(i) + 1; e.GetIndex() != want {
			return nil, fmt.Errorf("store: entries are not consecutive: index %d where %d was expected", e.GetIndex(), want)
		}
	}
	end := first + uint64(len(ents)) - 1
	if end <= base {
		// Everything is already compacted into the snapshot.
		return nil, nil
	}
	if first <= base {
		ents = ents[base+1-first:]
		first = base + 1
	}
	if first > last+1 {
		return nil, fmt.Errorf("store: entry %d would leave a gap after last index %d", first, last)
	}
	return ents, nil
}

// CheckEntries checks an Entries(lo, hi) request against the log
// (base, last]. The raft sentinels come back unwrapped, since raft compares
// them with ==.
func CheckEntries(lo, hi, base, last uint64) error {
	if lo <= base {
		return raft.ErrCompacted
	}
	if hi > last+1 {
		return fmt.Errorf("store: entries [%d, %d) past last index %d: %w", lo, hi, last, raft.ErrUnavailable)
	}
	if last == base {
		return raft.ErrUnavailable
	}
	if lo > hi {
		return fmt.Errorf("store: entries [%d, %d): lo is after hi", lo, hi)
	}
	return nil
}

// CheckTerm checks a Term(i) request against the log (base, last]: the term
// of base itself is kept. The raft sentinels come back unwrapped.
func CheckTerm(i, base, last uint64) error {
	if i < base {
		return raft.ErrCompacted
	}
	if i > last {
		return raft.ErrUnavailable
	}
	return nil
}

// CheckSnapshot checks a CreateSnapshot(i) request against the log
// (base, last] and the index of the current snapshot.
func CheckSnapshot(i, snapIndex, base, last uint64) error {
	if i <= snapIndex {
		return raft.ErrSnapOutOfDate
	}
	if i > last {
		return fmt.Errorf("store: snapshot index %d past last index %d: %w", i, last, raft.ErrUnavailable)
	}
	if i < base {
		return raft.ErrCompacted
	}
	return nil
}

// CheckCompact checks a Compact(i) request against the log (base, last].
func CheckCompact(i, base, last uint64) error {
	if i <= base {
		return raft.ErrCompacted
	}
	if i > last {
		return fmt.Errorf("store: compact index %d past last index %d: %w", i, last, raft.ErrUnavailable)
	}
	return nil
}

// Limit reports whether an entry of the given encoded size still fits
// after count entries of total encoded size total, for the maxSize argument
// of raft.Storage.Entries: the first entry always fits.
func Limit(count int, total, size, maxSize uint64) bool {
	return count == 0 || total+size <= maxSize
}

// CloneEntry returns a deep copy of e.
func CloneEntry(e *raftpb.Entry) *raftpb.Entry {
	return proto.Clone(e).(*raftpb.Entry)
}

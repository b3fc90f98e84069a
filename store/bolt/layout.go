package bolt

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The file holds three buckets. The log bucket maps big-endian indexes to
// marshalled entries; its first key is the log's base, a dummy entry that
// keeps only the index and term of the snapshot or compaction point, as
// raft.MemoryStorage does. The meta bucket holds the rest of the raft
// state, and the app bucket the values of store.Metadata.
var (
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")
	bucketApp  = []byte("app")

	keyFormat    = []byte("format")        // formatVersion
	keyHardState = []byte("hard-state")    // marshalled raftpb.HardState
	keySnapMeta  = []byte("snapshot-meta") // marshalled raftpb.SnapshotMetadata
	keySnapData  = []byte("snapshot-data") // the snapshot's data, written before its metadata
)

// formatVersion is the layout written by this package; Open refuses others.
const formatVersion = 1

// logKey returns the log bucket key of index i.
func logKey(i uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), i)
}

// keyIndex decodes a log bucket key.
func keyIndex(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("log key %x is not 8 bytes", k)
	}
	return binary.BigEndian.Uint64(k), nil
}

// dummyEntry returns the marshalled base entry at index i with term.
func dummyEntry(i, term uint64) ([]byte, error) {
	return proto.Marshal(&raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(term)})
}

// decodeEntry unmarshals a log value stored at key k, checking that it is
// the entry for that index. Unmarshal copies the bytes it keeps, so the
// entry stays valid after the transaction that read v.
func decodeEntry(k, v []byte) (*raftpb.Entry, error) {
	i, err := keyIndex(k)
	if err != nil {
		return nil, err
	}
	e := &raftpb.Entry{}
	if err := proto.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("decode entry %d: %w", i, err)
	}
	if e.GetIndex() != i {
		return nil, fmt.Errorf("entry stored at %d has index %d", i, e.GetIndex())
	}
	return e, nil
}

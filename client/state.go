package client

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// stateFile is the client's local state, in its data dir.
const stateFile = "client-state.db"

var (
	bucketAllocs  = []byte("allocs")
	bucketTasks   = []byte("tasks")
	bucketUpdates = []byte("updates")
)

// localState is what the client keeps across its own restarts, in one
// bbolt file: the allocations it runs, each task's state and driver
// handle, and the status updates the servers have not acknowledged yet.
type localState struct {
	db *bolt.DB
}

// taskRecord is what is kept of one task.
type taskRecord struct {
	// State is the task's state as last published (a TaskState message).
	State []byte `json:"state"`
	// Handle is the driver's handle while the task runs; nil otherwise.
	Handle *driver.TaskHandle `json:"handle,omitempty"`
	// ArtifactsDone: the task's artifacts are in its directory.
	ArtifactsDone bool `json:"artifacts_done,omitempty"`
}

func openState(dataDir string) (*localState, error) {
	path := filepath.Join(dataDir, stateFile)
	db, err := bolt.Open(path, stateFileMode, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("client state %s is locked: is another client running on this data dir? %w", path, err)
		}
		return nil, fmt.Errorf("open client state: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAllocs, bucketTasks, bucketUpdates} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init client state: %w", err)
	}
	return &localState{db: db}, nil
}

func (s *localState) close() error { return s.db.Close() }

func taskKey(allocID, task string) []byte { return []byte(allocID + "\x00" + task) }

// putAlloc records an allocation the client runs.
func (s *localState) putAlloc(a *structs.Allocation) error {
	data, err := proto.Marshal(a)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketAllocs).Put([]byte(a.Id), data) })
}

// deleteAlloc forgets an allocation and its tasks.
func (s *localState) deleteAlloc(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketAllocs).Delete([]byte(id)); err != nil {
			return err
		}
		c := tx.Bucket(bucketTasks).Cursor()
		prefix := []byte(id + "\x00")
		for k, _ := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// restoredAlloc is an allocation read back with its tasks.
type restoredAlloc struct {
	alloc *structs.Allocation
	tasks map[string]*taskRecord
}

// allocs reads back every allocation with its tasks. An entry that cannot
// be decoded is skipped and reported in the error; the rest are returned.
func (s *localState) allocs() ([]*restoredAlloc, error) {
	var out []*restoredAlloc
	var errs []error
	err := s.db.View(func(tx *bolt.Tx) error {
		byID := map[string]*restoredAlloc{}
		err := tx.Bucket(bucketAllocs).ForEach(func(k, v []byte) error {
			a := &structs.Allocation{}
			if err := proto.Unmarshal(v, a); err != nil {
				errs = append(errs, fmt.Errorf("allocation %s: %w", k, err))
				return nil
			}
			r := &restoredAlloc{alloc: a, tasks: map[string]*taskRecord{}}
			byID[a.Id] = r
			out = append(out, r)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			id, task, ok := cut(string(k))
			r := byID[id]
			if !ok || r == nil {
				return nil
			}
			rec := &taskRecord{}
			if err := json.Unmarshal(v, rec); err != nil {
				errs = append(errs, fmt.Errorf("task %s/%s: %w", id, task, err))
				return nil
			}
			r.tasks[task] = rec
			return nil
		})
	})
	return out, errors.Join(append(errs, err)...)
}

func cut(k string) (string, string, bool) {
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			return k[:i], k[i+1:], true
		}
	}
	return "", "", false
}

// putTask records a task, and with it the allocation update to send (nil
// for none), in one transaction.
func (s *localState) putTask(allocID, task string, rec *taskRecord, upd *pendingUpdate) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	var updData []byte
	if upd != nil {
		if updData, err = upd.encode(); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketTasks).Put(taskKey(allocID, task), data); err != nil {
			return err
		}
		if upd != nil {
			return tx.Bucket(bucketUpdates).Put([]byte(upd.alloc.Id), updData)
		}
		return nil
	})
}

// pendingUpdate is an allocation status not yet acknowledged by a server;
// seq orders the updates of one allocation.
type pendingUpdate struct {
	seq   uint64
	alloc *structs.Allocation
}

func (u *pendingUpdate) encode() ([]byte, error) {
	data, err := proto.Marshal(u.alloc)
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint64(nil, u.seq), data...), nil
}

// putUpdate records an update to send.
func (s *localState) putUpdate(u *pendingUpdate) error {
	data, err := u.encode()
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketUpdates).Put([]byte(u.alloc.Id), data) })
}

// deleteUpdates forgets the sent updates, unless a newer one of the same
// allocation has been recorded meanwhile.
func (s *localState) deleteUpdates(sent []*pendingUpdate) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUpdates)
		for _, u := range sent {
			v := b.Get([]byte(u.alloc.Id))
			if len(v) >= 8 && binary.BigEndian.Uint64(v[:8]) > u.seq {
				continue
			}
			if err := b.Delete([]byte(u.alloc.Id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// updates reads back the unsent updates.
func (s *localState) updates() ([]*pendingUpdate, error) {
	var out []*pendingUpdate
	var errs []error
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUpdates).ForEach(func(k, v []byte) error {
			if len(v) < 8 {
				errs = append(errs, fmt.Errorf("update %s: truncated", k))
				return nil
			}
			a := &structs.Allocation{}
			if err := proto.Unmarshal(v[8:], a); err != nil {
				errs = append(errs, fmt.Errorf("update %s: %w", k, err))
				return nil
			}
			out = append(out, &pendingUpdate{seq: binary.BigEndian.Uint64(v[:8]), alloc: a})
			return nil
		})
	})
	return out, errors.Join(append(errs, err)...)
}

package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/store"
)

// Keys of the values a server keeps with its raft log.
const (
	// metaRaftID is the server's raft id.
	metaRaftID = "server-raft-id"
	// metaLeft marks a server that left its cluster gracefully.
	metaLeft = "server-left"
)

// serverMeta keeps a few values with the raft log: in the store when it
// implements store.Metadata, otherwise in files of the data dir.
type serverMeta struct {
	load func(key string) ([]byte, error)
	save func(key string, v []byte) error
}

func newServerMeta(st store.Store, dataDir string) (serverMeta, error) {
	if md, ok := st.(store.Metadata); ok {
		return serverMeta{load: md.Meta, save: md.SetMeta}, nil
	}
	if dataDir == "" {
		return serverMeta{}, errors.New("server: a store without store.Metadata needs a data dir to keep the raft id")
	}
	return serverMeta{
		load: func(key string) ([]byte, error) {
			b, err := os.ReadFile(filepath.Join(dataDir, "server", key))
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil
			}
			return b, err
		},
		save: func(key string, b []byte) error {
			path := filepath.Join(dataDir, "server", key)
			tmp := path + ".tmp"
			// A leftover keeps its mode through WriteFile: start afresh.
			if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if err := os.WriteFile(tmp, b, serverFileMode); err != nil {
				return err
			}
			if err := os.Rename(tmp, path); err != nil {
				return err
			}
			return syncDir(filepath.Dir(path))
		},
	}, nil
}

// loadRaftID returns the server's raft id, creating it on first start. The
// id lives with the raft log. A new id is random, so ids are never reused
// across data dirs.
func loadRaftID(meta serverMeta, st store.Store) (uint64, error) {
	b, err := meta.load(metaRaftID)
	if err != nil {
		return 0, fmt.Errorf("read raft id: %w", err)
	}
	if len(b) == 8 {
		if id := binary.BigEndian.Uint64(b); id != 0 {
			return id, nil
		}
	}
	if len(b) != 0 {
		return 0, fmt.Errorf("read raft id: %d bytes, want 8", len(b))
	}
	has, err := raft.HasState(st)
	if err != nil {
		return 0, err
	}
	if has {
		return 0, errors.New("server: the store holds raft state but no raft id; it belongs to another server")
	}
	id := rand.Uint64()>>1 | 1<<32 // non-zero, and never a small number
	if err := meta.save(metaRaftID, binary.BigEndian.AppendUint64(nil, id)); err != nil {
		return 0, fmt.Errorf("save raft id: %w", err)
	}
	return id, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// hasLeft reports whether the server left its cluster gracefully.
func hasLeft(meta serverMeta) (bool, error) {
	b, err := meta.load(metaLeft)
	return len(b) > 0 && b[0] == 1, err
}

// markLeft records a graceful leave, or clears it.
func markLeft(meta serverMeta, left bool) error {
	v := []byte{0}
	if left {
		v[0] = 1
	}
	return meta.save(metaLeft, v)
}

// resetRaftState wipes a server's raft log, snapshots and raft id, so that
// it starts again as a new server. Only a store the server owns (a bbolt
// file in its data dir) can be wiped.
func (s *Server) resetRaftState() error {
	if !s.ownsStore {
		return errors.New("server: only a store in the data dir can be reset")
	}
	s.closeStore()
	dir := filepath.Join(s.cfg.DataDir, "server")
	for _, p := range []string{"raft.db", "snapshots", "raft-id", metaLeft} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("reset raft state: %w", err)
		}
	}
	return s.openStore()
}

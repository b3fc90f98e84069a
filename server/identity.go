package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/droverhq/drover/store"
)

// metaRaftID is the store.Metadata key of the server's raft id.
const metaRaftID = "server-raft-id"

// loadRaftID returns the server's raft id, creating it on first start. The
// id lives with the raft log: in the store when it implements
// store.Metadata, otherwise in a file of the data dir. A new id is random,
// so ids are never reused across data dirs.
func loadRaftID(st store.Store, dataDir string) (uint64, error) {
	load, save := idFile(dataDir)
	if md, ok := st.(store.Metadata); ok {
		load = func() ([]byte, error) { return md.Meta(metaRaftID) }
		save = func(b []byte) error { return md.SetMeta(metaRaftID, b) }
	} else if dataDir == "" {
		return 0, errors.New("server: a store without store.Metadata needs a data dir to keep the raft id")
	}
	b, err := load()
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
	has, err := hasState(st)
	if err != nil {
		return 0, err
	}
	if has {
		return 0, errors.New("server: the store holds raft state but no raft id; it belongs to another server")
	}
	id := rand.Uint64()>>1 | 1<<32 // non-zero, and never a small number
	if err := save(binary.BigEndian.AppendUint64(nil, id)); err != nil {
		return 0, fmt.Errorf("save raft id: %w", err)
	}
	return id, nil
}

func idFile(dataDir string) (load func() ([]byte, error), save func([]byte) error) {
	path := filepath.Join(dataDir, "server", "raft-id")
	load = func() ([]byte, error) {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	save = func(b []byte) error {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
		return syncDir(filepath.Dir(path))
	}
	return load, save
}

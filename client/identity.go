package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// identity is what a node keeps across restarts: who it is to the servers.
type identity struct {
	NodeID   string `json:"node_id"`
	SecretID string `json:"secret_id"`
}

// loadIdentity reads the node identity from dir, creating one on first start.
func loadIdentity(dir string) (identity, error) {
	path := filepath.Join(dir, identityFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		var id identity
		if err := json.Unmarshal(data, &id); err != nil || id.NodeID == "" || id.SecretID == "" {
			return identity{}, fmt.Errorf("node identity %s is corrupt (remove it to re-register as a new node): %v", path, err)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return identity{}, fmt.Errorf("read node identity: %w", err)
	}
	id := identity{NodeID: uuid.NewString(), SecretID: uuid.NewString()}
	data, _ = json.Marshal(id)
	tmp := path + ".tmp"
	// A leftover keeps its mode through WriteFile: start afresh.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return identity{}, fmt.Errorf("write node identity: %w", err)
	}
	if err := os.WriteFile(tmp, data, stateFileMode); err != nil {
		return identity{}, fmt.Errorf("write node identity: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return identity{}, fmt.Errorf("write node identity: %w", err)
	}
	return id, nil
}

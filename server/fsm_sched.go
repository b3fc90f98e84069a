package server

import (
	"errors"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// errConfigCASMismatch: a conditional scheduler configuration update found
// the configuration changed since the caller read it.
var errConfigCASMismatch = errors.New("scheduler configuration changed since it was read")

// applySchedulerConfig stores a new scheduler configuration, unless a
// conditional update lost; it returns what was stored.
func applySchedulerConfig(tx *state.Txn, index uint64, c *structs.SchedulerConfigSet) (*structs.SchedulerConfiguration, error) {
	cur := tx.SchedulerConfig()
	if c.Cas && cur.GetModifyIndex() != c.CasIndex {
		return nil, errConfigCASMismatch
	}
	cfg := c.Config
	if cfg == nil {
		cfg = &structs.SchedulerConfiguration{}
	}
	if cur != nil {
		cfg.CreateIndex = cur.CreateIndex
	} else {
		cfg.CreateIndex = index
	}
	cfg.ModifyIndex = index
	tx.SetSchedulerConfig(cfg)
	return cfg, nil
}

package server

import (
	"errors"

	"google.golang.org/protobuf/proto"

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

// applyNodeEligibility changes whether a node takes new placements.
func applyNodeEligibility(tx *state.Txn, index uint64, now int64, c *structs.NodeEligibilityUpdate) ([]*structs.Evaluation, map[string]bool) {
	old := tx.Node(c.NodeId)
	if old == nil {
		return nil, nil
	}
	node := proto.Clone(old).(*structs.Node)
	node.SchedulingEligibility = c.Eligibility
	node.ModifyIndex = index
	tx.UpsertNode(node)
	var classes map[string]bool
	if c.Eligibility == structs.NodeEligible {
		classes = map[string]bool{node.ComputedClass: true}
	}
	return upsertEvals(tx, index, now, c.Evals), classes
}

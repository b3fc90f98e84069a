package server

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// UpdateNodeMeta changes a node's dynamic metadata through raft (nomad
// node meta apply): set adds or replaces keys, unset removes keys, static
// ones too. The change holds across the node's re-registrations, takes
// part in placement at once (constraints on ${meta.*}), and re-evaluates
// the jobs the node runs and the system jobs.
func (s *Server) UpdateNodeMeta(ctx context.Context, nodeID string, set map[string]string, unset []string) (uint64, error) {
	if err := s.allow(ctx, "node write", (*acl.ACL).AllowNodeWrite); err != nil {
		return 0, err
	}
	for k := range set {
		if k == "" {
			return 0, fmt.Errorf("%w: a metadata key is empty", ErrBadRequest)
		}
	}
	var index uint64
	err := s.leaderCall(ctx, func(ctx context.Context) (err error) {
		if s.node(nodeID) == nil {
			return fmt.Errorf("%w: node %s", ErrNotFound, structs.Quote(nodeID))
		}
		evals, release := s.nodeEventEvals(nodeID, true)
		defer release()
		index, err = s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_NodeMetaUpdate{
			NodeMetaUpdate: &structs.NodeMetaUpdate{NodeId: nodeID, Set: set, Unset: unset, Evals: evals},
		}})
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.UpdateNodeMeta(ctx, &structs.NodeMetaRequest{NodeId: nodeID, Set: set, Unset: unset})
		index = resp.GetMeta().GetIndex()
		return err
	})
	return index, err
}

// PurgeNode removes a node from the cluster state (nomad node purge): its
// allocations are lost and rescheduled elsewhere. A client that is still
// running registers its node again on its next heartbeat.
func (s *Server) PurgeNode(ctx context.Context, nodeID string) (evalIDs []string, index uint64, err error) {
	if err := s.allow(ctx, "node write", (*acl.ACL).AllowNodeWrite); err != nil {
		return nil, 0, err
	}
	err = s.leaderCall(ctx, func(ctx context.Context) error {
		if s.node(nodeID) == nil {
			return fmt.Errorf("%w: node %s", ErrNotFound, structs.Quote(nodeID))
		}
		evals, release := s.nodeEventEvals(nodeID, false)
		defer release()
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_NodePurge{
			NodePurge: &structs.NodePurge{NodeId: nodeID, Evals: evals},
		}})
		if err != nil {
			return err
		}
		evalIDs, index = nil, idx
		for _, e := range evals {
			evalIDs = append(evalIDs, e.Id)
		}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.PurgeNode(ctx, &structs.NodePurgeRequest{NodeId: nodeID})
		evalIDs, index = resp.GetEvalIds(), resp.GetMeta().GetIndex()
		return err
	})
	return evalIDs, index, err
}

// applyNodeMetaUpdate records a node's dynamic metadata and applies it.
func applyNodeMetaUpdate(tx *state.Txn, index uint64, now int64, c *structs.NodeMetaUpdate) ([]*structs.Evaluation, map[string]bool) {
	old := tx.Node(c.NodeId)
	if old == nil {
		return nil, nil
	}
	node := proto.Clone(old).(*structs.Node)
	dyn := maps.Clone(node.DynamicMeta)
	if dyn == nil {
		dyn = map[string]string{}
	}
	unset := slices.Clone(node.DynamicMetaUnset)
	for k, v := range c.Set {
		dyn[k] = v
		unset = slices.DeleteFunc(unset, func(u string) bool { return u == k })
	}
	for _, k := range c.Unset {
		delete(dyn, k)
		if !slices.Contains(unset, k) {
			unset = append(unset, k)
		}
	}
	slices.Sort(unset)
	node.DynamicMeta, node.DynamicMetaUnset = dyn, unset
	overlayDynamicMeta(node, nil)
	node.ComputedClass = structs.ComputeNodeClass(node)
	node.ModifyIndex = index
	tx.UpsertNode(node)
	return upsertEvals(tx, index, now, c.Evals), map[string]bool{old.ComputedClass: true, node.ComputedClass: true}
}

// overlayDynamicMeta carries the dynamic metadata of old (when given) to
// node, a registration of the same node, and applies it to node's meta.
func overlayDynamicMeta(node, old *structs.Node) {
	if old != nil {
		node.DynamicMeta, node.DynamicMetaUnset = old.DynamicMeta, old.DynamicMetaUnset
	}
	if len(node.DynamicMeta) == 0 && len(node.DynamicMetaUnset) == 0 {
		return
	}
	meta := maps.Clone(node.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	for _, k := range node.DynamicMetaUnset {
		delete(meta, k)
	}
	maps.Copy(meta, node.DynamicMeta)
	node.Meta = meta
}

// applyNodePurge removes a node; what it ran is lost.
func applyNodePurge(tx *state.Txn, index uint64, now int64, c *structs.NodePurge) ([]*structs.Evaluation, map[string]bool) {
	old := tx.Node(c.NodeId)
	if old == nil {
		return nil, nil
	}
	markLost(tx, index, now, c.NodeId, "node was purged", func(*structs.Allocation) bool { return true })
	tx.DeleteNode(c.NodeId)
	return upsertEvals(tx, index, now, c.Evals), map[string]bool{old.ComputedClass: true}
}

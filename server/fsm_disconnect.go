package server

import (
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// markLost marks the node's allocations that the client has not finished
// and that lose(a) selects lost (why says how), stopping those still
// wanted. Their jobs' statuses are refreshed.
func markLost(tx *state.Txn, index uint64, now int64, nodeID, why string, lose func(*structs.Allocation) bool) {
	jobs := map[[2]string]bool{}
	for _, a := range tx.AllocsByNode(nodeID) {
		if a.ClientTerminal() || !lose(a) {
			continue
		}
		lost := state.CloneAlloc(a)
		lost.ClientStatus = structs.AllocClientLost
		lost.ClientDescription = why
		if lost.DesiredStatus == structs.AllocDesiredRun {
			lost.DesiredStatus = structs.AllocDesiredStop
			lost.DesiredDescription = "alloc is lost since its node is down"
		}
		lost.ModifyIndex = index
		lost.ModifyTime = now
		tx.UpsertAlloc(lost)
		jobs[[2]string{lost.Namespace, lost.JobId}] = true
	}
	for k := range jobs {
		tx.RefreshJobStatus(index, now, k[0], k[1])
	}
}

// disconnectAllocs handles a node that missed its heartbeats: allocations
// with a disconnect window become unknown, recording when (now); the
// others are lost. It returns how many became unknown.
func disconnectAllocs(tx *state.Txn, index uint64, now int64, nodeID string) int {
	unknown := 0
	for _, a := range tx.AllocsByNode(nodeID) {
		if !a.CanDisconnect() {
			continue
		}
		u := state.CloneAlloc(a)
		u.ClientStatus = structs.AllocClientUnknown
		u.ClientDescription = "node missed its heartbeats; waiting for it within the group's max_client_disconnect"
		u.DisconnectedAt = now
		u.ModifyIndex = index
		u.ModifyTime = now
		tx.UpsertAlloc(u)
		unknown++
	}
	markLost(tx, index, now, nodeID, "node is down", func(a *structs.Allocation) bool {
		return a.ClientStatus != structs.AllocClientUnknown
	})
	return unknown
}

// applyNodeDisconnectExpiry ends the disconnect windows of a disconnected
// node that have run out by now: those allocations are lost, and with no
// window left the node is down. A node that is no longer disconnected (it
// heartbeated meanwhile) is left alone.
func (f *fsm) applyNodeDisconnectExpiry(tx *state.Txn, index uint64, now int64, c *structs.NodeDisconnectExpiry) ([]*structs.Evaluation, map[string]bool) {
	old := tx.Node(c.NodeId)
	if old == nil || old.Status != structs.NodeStatusDisconnected {
		return nil, nil
	}
	waiting := 0
	markLost(tx, index, now, c.NodeId, "node did not come back within the group's max_client_disconnect", func(a *structs.Allocation) bool {
		exp, ok := a.DisconnectExpiry()
		if ok && exp.UnixNano() > now {
			waiting++
			return false
		}
		return true
	})
	if waiting > 0 {
		return upsertEvals(tx, index, now, c.Evals), nil
	}
	node := proto.Clone(old).(*structs.Node)
	node.Status = structs.NodeStatusDown
	node.ModifyIndex = index
	node.StatusUpdatedAt = now
	tx.UpsertNode(node)
	return upsertEvals(tx, index, now, c.Evals), map[string]bool{node.ComputedClass: true}
}

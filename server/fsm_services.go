package server

import (
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// applyServiceUpsert stores registrations. One whose allocation is gone
// or terminal when the entry applies is dropped: a registration racing
// its allocation's stop must not outlive it.
func applyServiceUpsert(tx *state.Txn, index uint64, c *structs.ServiceRegistrationUpsert) {
	for _, r := range c.GetServices() {
		if r == nil || r.Id == "" {
			continue
		}
		a := tx.Alloc(r.AllocId)
		if a == nil || a.ClientTerminal() || a.NodeId != r.NodeId {
			continue
		}
		r = proto.CloneOf(r)
		r.CreateIndex, r.ModifyIndex = index, index
		if old := tx.ServiceRegistration(r.Id); old != nil {
			if proto.Equal(withoutIndexes(old), withoutIndexes(r)) {
				continue
			}
			r.CreateIndex = old.CreateIndex
		}
		tx.UpsertServiceRegistration(r)
	}
}

func withoutIndexes(r *structs.ServiceRegistration) *structs.ServiceRegistration {
	c := proto.CloneOf(r)
	c.CreateIndex, c.ModifyIndex = 0, 0
	return c
}

// applyServiceDelete removes registrations by id (within a namespace when
// the entry names one) and those of whole allocations.
func applyServiceDelete(tx *state.Txn, c *structs.ServiceRegistrationDelete) {
	for _, id := range c.GetIds() {
		if r := tx.ServiceRegistration(id); r != nil && (c.Namespace == "" || r.Namespace == c.Namespace) {
			tx.DeleteServiceRegistration(id)
		}
	}
	for _, a := range c.GetAllocIds() {
		tx.DeleteAllocServices(a)
	}
}

package state

import (
	"github.com/droverhq/drover/structs"
)

// Service registrations (native service discovery) are stored by id and
// indexed by namespace\x00service\x00id and by alloc\x00id. A terminal or
// deleted allocation holds none: the transactions that make an
// allocation terminal or remove it drop its registrations with it, so a
// stopped allocation, or one lost with its node, disappears from
// discovery in the same raft entry.

// ServiceRegistration returns a registration by id within the
// transaction, or nil.
func (tx *Txn) ServiceRegistration(id string) *structs.ServiceRegistration {
	r, _ := tx.t.services.get(id)
	return r
}

// UpsertServiceRegistration stores a registration and indexes it.
func (tx *Txn) UpsertServiceRegistration(r *structs.ServiceRegistration) {
	if old := tx.ServiceRegistration(r.Id); old != nil {
		tx.unindexService(old)
	}
	tx.t.services = tx.t.services.set(tx.o, r.Id, r)
	tx.t.servicesByName = tx.t.servicesByName.set(tx.o, key(r.Namespace, r.ServiceName, r.Id), r)
	tx.t.servicesByAlloc = tx.t.servicesByAlloc.set(tx.o, key(r.AllocId, r.Id), r)
}

// DeleteServiceRegistration removes a registration by id.
func (tx *Txn) DeleteServiceRegistration(id string) {
	old := tx.ServiceRegistration(id)
	if old == nil {
		return
	}
	tx.t.services = tx.t.services.del(tx.o, id)
	tx.unindexService(old)
}

func (tx *Txn) unindexService(old *structs.ServiceRegistration) {
	tx.t.servicesByName = tx.t.servicesByName.del(tx.o, key(old.Namespace, old.ServiceName, old.Id))
	tx.t.servicesByAlloc = tx.t.servicesByAlloc.del(tx.o, key(old.AllocId, old.Id))
}

// DeleteAllocServices removes every registration of an allocation and
// reports how many there were.
func (tx *Txn) DeleteAllocServices(allocID string) int {
	ids := tx.allocServiceIDs(allocID)
	for _, id := range ids {
		tx.DeleteServiceRegistration(id)
	}
	return len(ids)
}

func (tx *Txn) allocServiceIDs(allocID string) []string {
	var ids []string
	each(tx.t.servicesByAlloc, prefixKey(allocID), func(r *structs.ServiceRegistration) bool {
		ids = append(ids, r.Id)
		return true
	})
	return ids
}

// ServiceRegistrations lists the registrations of namespace ns ("" for
// every namespace), by namespace, service name and id.
func (s *Snapshot) ServiceRegistrations(ns string) []*structs.ServiceRegistration {
	if ns == "" {
		return collect(s.t.servicesByName, "")
	}
	return collect(s.t.servicesByName, prefixKey(ns))
}

// ServiceRegistrationsByName lists the registrations of one service in
// namespace ns, by id.
func (s *Snapshot) ServiceRegistrationsByName(ns, name string) []*structs.ServiceRegistration {
	return collect(s.t.servicesByName, prefixKey(ns, name))
}

// ServiceRegistration returns a registration by id, or nil.
func (s *Snapshot) ServiceRegistration(id string) *structs.ServiceRegistration {
	r, _ := s.t.services.get(id)
	return r
}

// AllocServiceRegistrations lists an allocation's registrations, by id.
func (s *Snapshot) AllocServiceRegistrations(allocID string) []*structs.ServiceRegistration {
	return collect(s.t.servicesByAlloc, prefixKey(allocID))
}

package state

import (
	"github.com/droverhq/drover/structs"
)

// Variables are stored as the servers sealed them (items empty,
// encrypted_items set), keyed by namespace\x00path. Root keys are keyed
// by id; at most one is active.

// Variable returns a stored variable within the transaction, or nil.
func (tx *Txn) Variable(ns, path string) *structs.Variable {
	v, _ := tx.t.variables.get(key(ns, path))
	return v
}

// UpsertVariable stores a variable.
func (tx *Txn) UpsertVariable(v *structs.Variable) {
	tx.t.variables = tx.t.variables.set(tx.o, key(v.Namespace, v.Path), v)
}

// DeleteVariable removes a variable.
func (tx *Txn) DeleteVariable(ns, path string) {
	tx.t.variables = tx.t.variables.del(tx.o, key(ns, path))
}

// RootKey returns a root key by id within the transaction, or nil.
func (tx *Txn) RootKey(id string) *structs.RootKey {
	k, _ := tx.t.rootKeys.get(id)
	return k
}

// RootKeys lists the root keys within the transaction, by id.
func (tx *Txn) RootKeys() []*structs.RootKey { return collect(tx.t.rootKeys, "") }

// UpsertRootKey stores a root key.
func (tx *Txn) UpsertRootKey(k *structs.RootKey) {
	tx.t.rootKeys = tx.t.rootKeys.set(tx.o, k.KeyId, k)
}

// DeleteRootKey removes a root key.
func (tx *Txn) DeleteRootKey(id string) {
	tx.t.rootKeys = tx.t.rootKeys.del(tx.o, id)
}

// Variable returns a stored (sealed) variable, or nil.
func (s *Snapshot) Variable(ns, path string) *structs.Variable {
	v, _ := s.t.variables.get(key(ns, path))
	return v
}

// Variables lists the stored variables of namespace ns ("" for every
// namespace) whose path starts with prefix, by namespace and path.
func (s *Snapshot) Variables(ns, prefix string) []*structs.Variable {
	if ns != "" {
		return collect(s.t.variables, prefixKey(ns)+prefix)
	}
	var out []*structs.Variable
	each(s.t.variables, "", func(v *structs.Variable) bool {
		if len(v.Path) >= len(prefix) && v.Path[:len(prefix)] == prefix {
			out = append(out, v)
		}
		return true
	})
	return out
}

// VariablesByKey counts the stored variables sealed under each root key.
func (s *Snapshot) VariablesByKey() map[string]int {
	out := map[string]int{}
	each(s.t.variables, "", func(v *structs.Variable) bool {
		out[v.KeyId]++
		return true
	})
	return out
}

// RootKey returns a root key by id, or nil.
func (s *Snapshot) RootKey(id string) *structs.RootKey {
	k, _ := s.t.rootKeys.get(id)
	return k
}

// RootKeys lists the root keys, by id.
func (s *Snapshot) RootKeys() []*structs.RootKey { return collect(s.t.rootKeys, "") }

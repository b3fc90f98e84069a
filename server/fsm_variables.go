package server

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// errVarConflict is what a variable write whose check-and-set index does
// not match the stored variable's returns; the proposer reads the current
// variable to answer with it.
var errVarConflict = errors.New("variable check-and-set conflict")

// applyVariableUpsert stores a sealed variable, subject to its
// check-and-set index, decided as the entry applies.
func applyVariableUpsert(tx *state.Txn, index uint64, now int64, c *structs.VariableUpsert) error {
	v := c.GetVariable()
	if v == nil || v.Path == "" || len(v.Items) > 0 {
		return fmt.Errorf("%w: a stored variable needs a path and sealed items", ErrBadRequest)
	}
	old := tx.Variable(v.Namespace, v.Path)
	if c.CheckIndex && old.GetModifyIndex() != c.CasIndex {
		return errVarConflict
	}
	v = proto.CloneOf(v)
	v.CreateIndex, v.ModifyIndex, v.CreateTime, v.ModifyTime = index, index, now, now
	if old != nil {
		v.CreateIndex, v.CreateTime = old.CreateIndex, old.CreateTime
	}
	tx.UpsertVariable(v)
	return nil
}

func applyVariableDelete(tx *state.Txn, c *structs.VariableDelete) error {
	old := tx.Variable(c.Namespace, c.Path)
	if c.CheckIndex && old.GetModifyIndex() != c.CasIndex {
		return errVarConflict
	}
	tx.DeleteVariable(c.Namespace, c.Path)
	return nil
}

// applyRootKeyUpsert stores a root key; an activated one takes over from
// the key active before, which stays to decrypt what it sealed.
func applyRootKeyUpsert(tx *state.Txn, index uint64, now int64, c *structs.RootKeyUpsert) error {
	k := c.GetKey()
	if k == nil || k.KeyId == "" || len(k.Material) == 0 {
		return fmt.Errorf("%w: a root key needs an id and material", ErrBadRequest)
	}
	k = proto.CloneOf(k)
	k.CreateIndex, k.ModifyIndex, k.CreateTime = index, index, now
	if old := tx.RootKey(k.KeyId); old != nil {
		k.CreateIndex, k.CreateTime = old.CreateIndex, old.CreateTime
	}
	if c.Activate {
		for _, other := range tx.RootKeys() {
			if other.KeyId != k.KeyId && other.State == structs.RootKeyActive {
				o := proto.CloneOf(other)
				o.State, o.ModifyIndex = structs.RootKeyInactive, index
				tx.UpsertRootKey(o)
			}
		}
		k.State = structs.RootKeyActive
	}
	tx.UpsertRootKey(k)
	return nil
}

// applyRootKeyDelete removes root keys; the active key and keys that
// still seal a variable are kept.
func applyRootKeyDelete(tx *state.Txn, c *structs.RootKeyDelete) {
	for _, id := range c.GetKeyIds() {
		if k := tx.RootKey(id); k != nil && k.State != structs.RootKeyActive {
			tx.DeleteRootKey(id)
		}
	}
}

package server

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// applyACLPolicyUpsert stores policies; a replaced policy keeps its
// create index.
func applyACLPolicyUpsert(tx *state.Txn, index uint64, c *structs.ACLPolicyUpsert) {
	for _, p := range c.GetPolicies() {
		if p == nil || p.Name == "" {
			continue
		}
		p = proto.CloneOf(p)
		p.CreateIndex, p.ModifyIndex = index, index
		if old := tx.ACLPolicy(p.Name); old != nil {
			p.CreateIndex = old.CreateIndex
		}
		tx.UpsertACLPolicy(p)
	}
}

func applyACLPolicyDelete(tx *state.Txn, c *structs.ACLPolicyDelete) {
	for _, name := range c.GetNames() {
		tx.DeleteACLPolicy(name)
	}
}

// applyACLTokenUpsert stores tokens; a replaced token keeps its create
// index. A token whose secret another token holds is refused whole.
func applyACLTokenUpsert(tx *state.Txn, index uint64, c *structs.ACLTokenUpsert) error {
	for _, t := range c.GetTokens() {
		if t == nil || t.AccessorId == "" || t.SecretId == "" {
			return fmt.Errorf("%w: an ACL token needs an accessor and a secret", structs.ErrBadRequest)
		}
		if other := tx.ACLTokenBySecret(t.SecretId); other != nil && other.AccessorId != t.AccessorId {
			return fmt.Errorf("%w: ACL token secret already in use", structs.ErrBadRequest)
		}
	}
	for _, t := range c.GetTokens() {
		t = proto.CloneOf(t)
		t.CreateIndex, t.ModifyIndex = index, index
		if old := tx.ACLToken(t.AccessorId); old != nil {
			t.CreateIndex = old.CreateIndex
		}
		tx.UpsertACLToken(t)
	}
	return nil
}

func applyACLTokenDelete(tx *state.Txn, c *structs.ACLTokenDelete) {
	for _, a := range c.GetAccessorIds() {
		tx.DeleteACLToken(a)
	}
}

// applyACLBootstrap stores the first management token, once.
func applyACLBootstrap(tx *state.Txn, index uint64, c *structs.ACLBootstrap) error {
	meta := tx.ClusterMeta()
	if meta.AclBootstrapIndex != 0 {
		return fmt.Errorf("%w (at index %d)", structs.ErrACLBootstrapped, meta.AclBootstrapIndex)
	}
	if err := applyACLTokenUpsert(tx, index, &structs.ACLTokenUpsert{Tokens: []*structs.ACLToken{c.GetToken()}}); err != nil {
		return err
	}
	meta = proto.CloneOf(meta)
	meta.AclBootstrapIndex = index
	tx.SetClusterMeta(meta)
	return nil
}

// applyServerSecret sets the region's server secret unless it has one.
func applyServerSecret(tx *state.Txn, c *structs.ServerSecretSet) {
	meta := tx.ClusterMeta()
	if meta.ServerSecret != "" || c.GetSecret() == "" {
		return
	}
	meta = proto.CloneOf(meta)
	meta.ServerSecret = c.GetSecret()
	tx.SetClusterMeta(meta)
}

package state

import (
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// UpsertACLPolicy stores a policy, replacing the one of the same name.
func (tx *Txn) UpsertACLPolicy(p *structs.ACLPolicy) {
	tx.t.aclPolicies = tx.t.aclPolicies.set(tx.o, p.Name, p)
}

// DeleteACLPolicy removes a policy; tokens naming it keep the name and
// grant nothing for it.
func (tx *Txn) DeleteACLPolicy(name string) {
	tx.t.aclPolicies = tx.t.aclPolicies.del(tx.o, name)
}

// ACLPolicy returns a policy read within the transaction, or nil.
func (tx *Txn) ACLPolicy(name string) *structs.ACLPolicy {
	p, _ := tx.t.aclPolicies.get(name)
	return p
}

// UpsertACLToken stores a token, replacing the one of the same accessor.
func (tx *Txn) UpsertACLToken(t *structs.ACLToken) {
	if old := tx.ACLToken(t.AccessorId); old != nil && old.SecretId != t.SecretId {
		tx.t.aclTokensBySecret = tx.t.aclTokensBySecret.del(tx.o, old.SecretId)
	}
	tx.t.aclTokens = tx.t.aclTokens.set(tx.o, t.AccessorId, t)
	tx.t.aclTokensBySecret = tx.t.aclTokensBySecret.set(tx.o, t.SecretId, t)
}

// DeleteACLToken removes a token by accessor.
func (tx *Txn) DeleteACLToken(accessor string) {
	old := tx.ACLToken(accessor)
	if old == nil {
		return
	}
	tx.t.aclTokens = tx.t.aclTokens.del(tx.o, accessor)
	tx.t.aclTokensBySecret = tx.t.aclTokensBySecret.del(tx.o, old.SecretId)
}

// ACLToken returns a token by accessor within the transaction, or nil.
func (tx *Txn) ACLToken(accessor string) *structs.ACLToken {
	t, _ := tx.t.aclTokens.get(accessor)
	return t
}

// ACLTokenBySecret returns a token by secret within the transaction, or nil.
func (tx *Txn) ACLTokenBySecret(secret string) *structs.ACLToken {
	t, _ := tx.t.aclTokensBySecret.get(secret)
	return t
}

// ClusterMeta returns the region's singletons within the transaction;
// never nil.
func (tx *Txn) ClusterMeta() *structs.ClusterMeta {
	if tx.t.meta == nil {
		return &structs.ClusterMeta{}
	}
	return tx.t.meta
}

// SetClusterMeta stores the region's singletons.
func (tx *Txn) SetClusterMeta(m *structs.ClusterMeta) { tx.t.meta = proto.CloneOf(m) }

// ACLPolicy returns a policy by name, or nil.
func (s *Snapshot) ACLPolicy(name string) *structs.ACLPolicy {
	p, _ := s.t.aclPolicies.get(name)
	return p
}

// ACLPolicies lists the policies whose name has prefix, by name.
func (s *Snapshot) ACLPolicies(prefix string) []*structs.ACLPolicy {
	return collect(s.t.aclPolicies, prefix)
}

// ACLToken returns a token by accessor, or nil.
func (s *Snapshot) ACLToken(accessor string) *structs.ACLToken {
	t, _ := s.t.aclTokens.get(accessor)
	return t
}

// ACLTokenBySecret returns a token by secret, or nil.
func (s *Snapshot) ACLTokenBySecret(secret string) *structs.ACLToken {
	if secret == "" {
		return nil
	}
	t, _ := s.t.aclTokensBySecret.get(secret)
	return t
}

// ACLTokens lists the tokens whose accessor has prefix, by accessor.
func (s *Snapshot) ACLTokens(prefix string) []*structs.ACLToken {
	return collect(s.t.aclTokens, prefix)
}

// ACLBootstrapIndex is the index at which the ACL system was
// bootstrapped, or 0.
func (s *Snapshot) ACLBootstrapIndex() uint64 { return s.t.meta.GetAclBootstrapIndex() }

// ServerSecret is the region's server secret, or "" before the first
// leader set it.
func (s *Snapshot) ServerSecret() string { return s.t.meta.GetServerSecret() }

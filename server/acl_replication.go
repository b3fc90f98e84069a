package server

import (
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// primeServerSecret gives the region its server secret, once: the first
// leader that finds none commits a random one.
func (s *Server) primeServerSecret(ctx context.Context) {
	if s.state.Snapshot().ServerSecret() != "" {
		return
	}
	_, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_ServerSecretSet{
		ServerSecretSet: &structs.ServerSecretSet{Secret: newSecret() + newSecret()},
	}})
	if err != nil {
		s.logger.Warn("setting the region's server secret failed", "error", err)
	}
}

// replicateACLs runs on the leader of a region other than the
// authoritative one while ACLs are on: it copies the authoritative
// region's policies and global tokens into this region's state, through
// raft, and removes what the authoritative region removed. It long-polls
// the authoritative region, so a change there arrives within moments.
func (s *Server) replicateACLs(ctx context.Context) {
	if s.cfg.ACL.ReplicationToken == "" {
		s.logger.Warn("ACL replication is off: set the replication token (acl { replication_token }) on the servers of this region",
			"authoritative_region", s.cfg.AuthoritativeRegion)
		return
	}
	retry := s.cfg.ACL.ReplicationInterval
	if retry <= 0 {
		retry = 5 * time.Second
	}
	var index uint64
	for {
		next, err := s.replicateACLsOnce(ctx, index)
		wait := time.Second // at most one round a second, even when busy
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("ACL replication from the authoritative region failed; retrying",
				"authoritative_region", s.cfg.AuthoritativeRegion, "error", err, "retry_in", retry)
			wait = retry
		} else {
			index = next
		}
		if !clock.Sleep(ctx, s.cfg.Clock, wait) {
			return
		}
	}
}

// replicateACLsOnce waits for the authoritative region's state to pass
// index, then makes this region's ACL objects match it. It returns the
// authoritative index it saw.
func (s *Server) replicateACLsOnce(ctx context.Context, index uint64) (uint64, error) {
	region := s.cfg.AuthoritativeRegion
	policies, err := toRegion(s, ctx, region, func(ctx context.Context, c structs.DroverClient) (*structs.ACLPolicyListResponse, error) {
		return c.ListACLPolicies(ctx, &structs.ACLListRequest{Options: &structs.QueryOptions{
			Region: region, MinQueryIndex: index, MaxQueryTimeMs: (5 * time.Minute).Milliseconds(),
		}})
	})
	if err != nil {
		return index, err
	}
	tokens, err := toRegion(s, ctx, region, func(ctx context.Context, c structs.DroverClient) (*structs.ACLTokenListResponse, error) {
		return c.ListACLTokens(ctx, &structs.ACLListRequest{GlobalOnly: true, Options: &structs.QueryOptions{Region: region}})
	})
	if err != nil {
		return index, err
	}
	snap := s.state.Snapshot()
	var upsertP []*structs.ACLPolicy
	var deleteP []string
	remoteP := map[string]bool{}
	for _, p := range policies.GetPolicies() {
		remoteP[p.Name] = true
		if old := snap.ACLPolicy(p.Name); old == nil || old.Rules != p.Rules || old.Description != p.Description {
			upsertP = append(upsertP, &structs.ACLPolicy{Name: p.Name, Description: p.Description, Rules: p.Rules})
		}
	}
	for _, p := range snap.ACLPolicies("") {
		if !remoteP[p.Name] {
			deleteP = append(deleteP, p.Name)
		}
	}
	var upsertT []*structs.ACLToken
	var deleteT []string
	remoteT := map[string]bool{}
	for _, t := range tokens.GetTokens() {
		if !t.Global {
			continue
		}
		remoteT[t.AccessorId] = true
		if old := snap.ACLToken(t.AccessorId); old == nil || !sameToken(old, t) {
			c := proto.CloneOf(t)
			c.CreateIndex, c.ModifyIndex = 0, 0
			upsertT = append(upsertT, c)
		}
	}
	for _, t := range snap.ACLTokens("") {
		if t.Global && !remoteT[t.AccessorId] {
			deleteT = append(deleteT, t.AccessorId)
		}
	}
	var cmds []*structs.LogCommand
	if len(upsertP) > 0 {
		cmds = append(cmds, &structs.LogCommand{Command: &structs.LogCommand_AclPolicyUpsert{AclPolicyUpsert: &structs.ACLPolicyUpsert{Policies: upsertP}}})
	}
	if len(deleteP) > 0 {
		cmds = append(cmds, &structs.LogCommand{Command: &structs.LogCommand_AclPolicyDelete{AclPolicyDelete: &structs.ACLPolicyDelete{Names: deleteP}}})
	}
	if len(deleteT) > 0 {
		cmds = append(cmds, &structs.LogCommand{Command: &structs.LogCommand_AclTokenDelete{AclTokenDelete: &structs.ACLTokenDelete{AccessorIds: deleteT}}})
	}
	if len(upsertT) > 0 {
		cmds = append(cmds, &structs.LogCommand{Command: &structs.LogCommand_AclTokenUpsert{AclTokenUpsert: &structs.ACLTokenUpsert{Tokens: upsertT}}})
	}
	for _, c := range cmds {
		if _, err := s.raft.Propose(ctx, c); err != nil {
			return index, err
		}
	}
	if len(cmds) > 0 {
		s.logger.Info("replicated ACLs from the authoritative region", "policies_upserted", len(upsertP), "policies_deleted", len(deleteP),
			"tokens_upserted", len(upsertT), "tokens_deleted", len(deleteT))
	}
	next := policies.GetMeta().GetIndex()
	if next < index {
		next = 0 // the authoritative region was restored or rebuilt: start over
	}
	return next, nil
}

// sameToken reports whether two copies of a token grant the same thing.
func sameToken(a, b *structs.ACLToken) bool {
	return a.SecretId == b.SecretId && a.Name == b.Name && a.Type == b.Type && a.Global == b.Global &&
		a.ExpirationTime == b.ExpirationTime && slices.Equal(a.Policies, b.Policies)
}

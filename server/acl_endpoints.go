package server

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// validPolicyName is Nomad's rule for policy names.
var validPolicyName = regexp.MustCompile(`^[a-zA-Z0-9-]{1,128}$`)

// maxACLBatch bounds the objects one ACL write may carry.
const maxACLBatch = 1000

// aclEnabled fails with ErrACLDisabled when ACLs are off.
func (s *Server) aclEnabled() error {
	if !s.cfg.ACL.Enabled {
		return ErrACLDisabled
	}
	return nil
}

// authoritative reports whether this server's region holds the ACL
// policies and global tokens that the others replicate.
func (s *Server) authoritative() bool {
	return s.cfg.AuthoritativeRegion == "" || s.cfg.AuthoritativeRegion == s.cfg.Region
}

// aclWriteRegion is where an ACL write that concerns every region goes:
// "" for this one, or the authoritative region.
func (s *Server) aclWriteRegion(ctx context.Context, global bool) string {
	if r := s.otherRegion(ctx, ""); r != "" {
		return r
	}
	if global && !s.authoritative() {
		return s.cfg.AuthoritativeRegion
	}
	return ""
}

// ACLBootstrap creates the first management token, once; later calls
// fail with ErrACLBootstrapped. secret, when set, is the token's secret.
// It runs in the authoritative region and needs no token.
func (s *Server) ACLBootstrap(ctx context.Context, secret string) (*structs.ACLToken, error) {
	if err := s.aclEnabled(); err != nil {
		return nil, err
	}
	if r := s.aclWriteRegion(ctx, true); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.ACLTokenResponse, error) {
			return c.ACLBootstrap(ctx, &structs.ACLBootstrapRequest{SecretId: secret})
		})
		return resp.GetToken(), err
	}
	if secret == "" {
		secret = newSecret()
	}
	var tok *structs.ACLToken
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		t := &structs.ACLToken{
			AccessorId: newSecret(), SecretId: secret, Name: "Bootstrap Token", Type: structs.ACLTokenTypeManagement,
			Global: true, CreateTime: s.cfg.Clock.Now().UnixNano(),
		}
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_AclBootstrap{
			AclBootstrap: &structs.ACLBootstrap{Token: t},
		}})
		if err != nil {
			return err
		}
		t.CreateIndex, t.ModifyIndex = idx, idx
		tok = t
		return nil
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.ACLBootstrap(ctx, &structs.ACLBootstrapRequest{SecretId: secret})
		tok = resp.GetToken()
		return err
	})
	if err != nil {
		return nil, err
	}
	s.logger.Info("ACL system bootstrapped", "accessor", tok.AccessorId)
	return tok, nil
}

// UpsertACLPolicies creates or replaces policies. Each must parse; the
// write is refused whole otherwise. Policies apply in every region, so
// the write goes to the authoritative region. Needs a management token.
func (s *Server) UpsertACLPolicies(ctx context.Context, policies []*structs.ACLPolicy) (uint64, error) {
	if err := s.aclEnabled(); err != nil {
		return 0, err
	}
	if err := s.allowManagement(ctx); err != nil {
		return 0, err
	}
	if len(policies) == 0 || len(policies) > maxACLBatch {
		return 0, fmt.Errorf("%w: between 1 and %d policies per write", ErrBadRequest, maxACLBatch)
	}
	var problems []string
	clean := make([]*structs.ACLPolicy, 0, len(policies))
	for i, p := range policies {
		if p == nil {
			problems = append(problems, fmt.Sprintf("policy %d: missing", i))
			continue
		}
		if !validPolicyName.MatchString(p.Name) {
			problems = append(problems, fmt.Sprintf("policy %d: invalid name %s: want 1-128 letters, digits or dashes", i, structs.Quote(p.Name)))
		}
		if len(p.Description) > 256 {
			problems = append(problems, fmt.Sprintf("policy %s: description longer than 256 characters", structs.Quote(p.Name)))
		}
		if _, err := acl.Parse(p.Rules); err != nil {
			problems = append(problems, fmt.Sprintf("policy %s: rules: %v", structs.Quote(p.Name), err))
		}
		clean = append(clean, &structs.ACLPolicy{Name: p.Name, Description: p.Description, Rules: p.Rules})
	}
	if len(problems) > 0 {
		return 0, &structs.ValidationError{Problems: problems}
	}
	if r := s.aclWriteRegion(ctx, true); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.GenericResponse, error) {
			return c.UpsertACLPolicies(ctx, &structs.ACLPolicyUpsertRequest{Policies: clean})
		})
		return resp.GetMeta().GetIndex(), err
	}
	return s.proposeACL(ctx, &structs.LogCommand{Command: &structs.LogCommand_AclPolicyUpsert{
		AclPolicyUpsert: &structs.ACLPolicyUpsert{Policies: clean},
	}}, func(ctx context.Context, c structs.DroverClient) (*structs.GenericResponse, error) {
		return c.UpsertACLPolicies(ctx, &structs.ACLPolicyUpsertRequest{Policies: clean})
	})
}

// DeleteACLPolicies removes policies by name, in the authoritative region.
// Needs a management token.
func (s *Server) DeleteACLPolicies(ctx context.Context, names []string) (uint64, error) {
	if err := s.aclEnabled(); err != nil {
		return 0, err
	}
	if err := s.allowManagement(ctx); err != nil {
		return 0, err
	}
	if len(names) == 0 || len(names) > maxACLBatch {
		return 0, fmt.Errorf("%w: between 1 and %d policies per write", ErrBadRequest, maxACLBatch)
	}
	if r := s.aclWriteRegion(ctx, true); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.GenericResponse, error) {
			return c.DeleteACLPolicies(ctx, &structs.ACLPolicyDeleteRequest{Names: names})
		})
		return resp.GetMeta().GetIndex(), err
	}
	return s.proposeACL(ctx, &structs.LogCommand{Command: &structs.LogCommand_AclPolicyDelete{
		AclPolicyDelete: &structs.ACLPolicyDelete{Names: names},
	}}, func(ctx context.Context, c structs.DroverClient) (*structs.GenericResponse, error) {
		return c.DeleteACLPolicies(ctx, &structs.ACLPolicyDeleteRequest{Names: names})
	})
}

// proposeACL commits an ACL command on the leader of this region.
func (s *Server) proposeACL(ctx context.Context, cmd *structs.LogCommand,
	remote func(context.Context, structs.DroverClient) (*structs.GenericResponse, error)) (uint64, error) {
	var index uint64
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		idx, err := s.raft.Propose(ctx, cmd)
		index = idx
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := remote(ctx, c)
		index = resp.GetMeta().GetIndex()
		return err
	})
	return index, err
}

// ACLPolicy reads one policy: with a management token, or a token that
// holds the policy.
func (s *Server) ACLPolicy(ctx context.Context, name string) (*structs.ACLPolicy, error) {
	if err := s.aclEnabled(); err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.ACLPolicyResponse, error) {
			return c.GetACLPolicy(ctx, &structs.ACLPolicyRequest{Name: name, Options: remoteQuery(ctx, r, "")})
		})
		return resp.GetPolicy(), err
	}
	a, tok, err := s.authorizeToken(ctx)
	if err != nil {
		return nil, err
	}
	if !a.IsManagement() && (tok == nil || !slices.Contains(tok.Policies, name)) {
		return nil, errDenied("reading a policy needs a management token or a token holding it")
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	if p := s.state.Snapshot().ACLPolicy(name); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("%w: ACL policy %s", ErrNotFound, structs.Quote(name))
}

// ACLPolicies lists the policies whose name has prefix: all of them for a
// management token, a client token's own otherwise.
func (s *Server) ACLPolicies(ctx context.Context, prefix string) ([]*structs.ACLPolicy, error) {
	if err := s.aclEnabled(); err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.ACLPolicyListResponse, error) {
			return c.ListACLPolicies(ctx, &structs.ACLListRequest{Prefix: prefix, Options: remoteQuery(ctx, r, "")})
		})
		return resp.GetPolicies(), err
	}
	a, tok, err := s.authorizeToken(ctx)
	if err != nil {
		return nil, err
	}
	if !a.IsManagement() && tok == nil {
		return nil, errDenied("listing policies needs a token")
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	all := s.state.Snapshot().ACLPolicies(prefix)
	if a.IsManagement() {
		return all, nil
	}
	return slices.DeleteFunc(all, func(p *structs.ACLPolicy) bool { return !slices.Contains(tok.Policies, p.Name) }), nil
}

// UpsertACLTokens creates tokens (those without an accessor id: the
// accessor and secret are generated, and an expiration TTL starts now) or
// updates existing ones (name, type and policies; the secret, global flag
// and expiry never change). Global tokens are written in the
// authoritative region. Needs a management token. It returns the tokens
// as stored, with their secrets.
func (s *Server) UpsertACLTokens(ctx context.Context, tokens []*structs.ACLToken) ([]*structs.ACLToken, error) {
	if err := s.aclEnabled(); err != nil {
		return nil, err
	}
	if err := s.allowManagement(ctx); err != nil {
		return nil, err
	}
	if len(tokens) == 0 || len(tokens) > maxACLBatch {
		return nil, fmt.Errorf("%w: between 1 and %d tokens per write", ErrBadRequest, maxACLBatch)
	}
	global := false
	for _, t := range tokens {
		global = global || t.GetGlobal()
	}
	if r := s.aclWriteRegion(ctx, global); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.ACLTokenListResponse, error) {
			return c.UpsertACLTokens(ctx, &structs.ACLTokenUpsertRequest{Tokens: tokens})
		})
		return resp.GetTokens(), err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	out, err := s.prepareTokens(tokens)
	if err != nil {
		return nil, err
	}
	var stored []*structs.ACLToken
	err = s.leaderCall(ctx, func(ctx context.Context) error {
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_AclTokenUpsert{
			AclTokenUpsert: &structs.ACLTokenUpsert{Tokens: out},
		}})
		if err != nil {
			return err
		}
		snap := s.state.Snapshot()
		stored = make([]*structs.ACLToken, 0, len(out))
		for _, t := range out {
			if st := snap.ACLToken(t.AccessorId); st != nil {
				stored = append(stored, st)
			} else {
				c := proto.CloneOf(t)
				c.ModifyIndex = idx
				stored = append(stored, c)
			}
		}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.UpsertACLTokens(ctx, &structs.ACLTokenUpsertRequest{Tokens: tokens})
		stored = resp.GetTokens()
		return err
	})
	return stored, err
}

// prepareTokens validates tokens and fills in what the server owns.
func (s *Server) prepareTokens(tokens []*structs.ACLToken) ([]*structs.ACLToken, error) {
	snap := s.state.Snapshot()
	now := s.cfg.Clock.Now()
	var problems []string
	out := make([]*structs.ACLToken, 0, len(tokens))
	for i, in := range tokens {
		if in == nil {
			problems = append(problems, fmt.Sprintf("token %d: missing", i))
			continue
		}
		t := &structs.ACLToken{Name: in.Name, Type: in.Type, Policies: slices.Clone(in.Policies), Global: in.Global}
		if t.Type == "" {
			t.Type = structs.ACLTokenTypeClient
		}
		where := fmt.Sprintf("token %d", i)
		if len(t.Name) > 256 {
			problems = append(problems, where+": name longer than 256 characters")
		}
		switch t.Type {
		case structs.ACLTokenTypeClient:
			if len(t.Policies) == 0 {
				problems = append(problems, where+": a client token needs at least one policy")
			}
		case structs.ACLTokenTypeManagement:
			if len(t.Policies) != 0 {
				problems = append(problems, where+": a management token takes no policies")
			}
		default:
			problems = append(problems, fmt.Sprintf("%s: type %s: want client or management", where, structs.Quote(t.Type)))
		}
		for _, p := range t.Policies {
			if !validPolicyName.MatchString(p) {
				problems = append(problems, fmt.Sprintf("%s: invalid policy name %s", where, structs.Quote(p)))
			}
		}
		if in.AccessorId == "" {
			t.AccessorId, t.SecretId, t.CreateTime = newSecret(), newSecret(), now.UnixNano()
			if ttl := in.GetExpirationTtl(); ttl != nil {
				d := ttl.AsDuration()
				if d < s.cfg.ACL.minTTL() || d > s.cfg.ACL.maxTTL() {
					problems = append(problems, fmt.Sprintf("%s: expiration TTL %s outside [%s, %s]", where, d, s.cfg.ACL.minTTL(), s.cfg.ACL.maxTTL()))
				}
				t.ExpirationTtl = durationpb.New(d)
				t.ExpirationTime = now.Add(d).UnixNano()
			}
			if et := in.ExpirationTime; et != 0 && t.ExpirationTime == 0 {
				if d := time.Unix(0, et).Sub(now); d < s.cfg.ACL.minTTL() || d > s.cfg.ACL.maxTTL() {
					problems = append(problems, fmt.Sprintf("%s: expiration time %s from now is outside [%s, %s]", where, d.Round(time.Second), s.cfg.ACL.minTTL(), s.cfg.ACL.maxTTL()))
				}
				t.ExpirationTime = et
			}
		} else {
			old := snap.ACLToken(in.AccessorId)
			if old == nil {
				problems = append(problems, fmt.Sprintf("%s: no token with accessor %s", where, structs.Quote(in.AccessorId)))
				continue
			}
			if old.Global != in.Global {
				problems = append(problems, where+": the global flag of a token cannot change")
			}
			t.AccessorId, t.SecretId, t.CreateTime = old.AccessorId, old.SecretId, old.CreateTime
			t.ExpirationTime, t.ExpirationTtl = old.ExpirationTime, old.ExpirationTtl
		}
		out = append(out, t)
	}
	if len(problems) > 0 {
		return nil, &structs.ValidationError{Problems: problems}
	}
	return out, nil
}

// DeleteACLTokens removes tokens by accessor. Deleting a global token is
// done in the authoritative region. Needs a management token.
func (s *Server) DeleteACLTokens(ctx context.Context, accessors []string) (uint64, error) {
	if err := s.aclEnabled(); err != nil {
		return 0, err
	}
	if err := s.allowManagement(ctx); err != nil {
		return 0, err
	}
	if len(accessors) == 0 || len(accessors) > maxACLBatch {
		return 0, fmt.Errorf("%w: between 1 and %d tokens per write", ErrBadRequest, maxACLBatch)
	}
	snap := s.state.Snapshot()
	global := false
	for _, a := range accessors {
		global = global || snap.ACLToken(a).GetGlobal()
	}
	if r := s.aclWriteRegion(ctx, global); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.GenericResponse, error) {
			return c.DeleteACLTokens(ctx, &structs.ACLTokenDeleteRequest{AccessorIds: accessors})
		})
		return resp.GetMeta().GetIndex(), err
	}
	return s.proposeACL(ctx, &structs.LogCommand{Command: &structs.LogCommand_AclTokenDelete{
		AclTokenDelete: &structs.ACLTokenDelete{AccessorIds: accessors},
	}}, func(ctx context.Context, c structs.DroverClient) (*structs.GenericResponse, error) {
		return c.DeleteACLTokens(ctx, &structs.ACLTokenDeleteRequest{AccessorIds: accessors})
	})
}

// ACLToken reads a token by accessor, with its secret: with a management
// token, or the token itself.
func (s *Server) ACLToken(ctx context.Context, accessor string) (*structs.ACLToken, error) {
	if err := s.aclEnabled(); err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.ACLTokenResponse, error) {
			return c.GetACLToken(ctx, &structs.ACLTokenRequest{AccessorId: accessor, Options: remoteQuery(ctx, r, "")})
		})
		return resp.GetToken(), err
	}
	a, tok, err := s.authorizeToken(ctx)
	if err != nil {
		return nil, err
	}
	if !a.IsManagement() && (tok == nil || tok.AccessorId != accessor) {
		return nil, errDenied("reading a token needs a management token or the token itself")
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	if t := s.state.Snapshot().ACLToken(accessor); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%w: ACL token %s", ErrNotFound, structs.Quote(accessor))
}

// ACLTokenSelf returns the caller's own token, found by its secret.
func (s *Server) ACLTokenSelf(ctx context.Context) (*structs.ACLToken, error) {
	if err := s.aclEnabled(); err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.ACLTokenResponse, error) {
			return c.GetACLToken(ctx, &structs.ACLTokenRequest{Self: true, Options: remoteQuery(ctx, r, "")})
		})
		return resp.GetToken(), err
	}
	secret, ok := tokenOf(ctx)
	if !ok || secret == "" {
		return nil, fmt.Errorf("%w: the call carries no token", ErrTokenNotFound)
	}
	return s.resolveToken(ctx, secret)
}

// ACLTokens lists the tokens whose accessor has prefix, without their
// secrets. With globalOnly it lists the global tokens with their secrets,
// which is what another region replicates. Needs a management token.
func (s *Server) ACLTokens(ctx context.Context, prefix string, globalOnly bool) ([]*structs.ACLToken, error) {
	if err := s.aclEnabled(); err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.ACLTokenListResponse, error) {
			return c.ListACLTokens(ctx, &structs.ACLListRequest{Prefix: prefix, GlobalOnly: globalOnly, Options: remoteQuery(ctx, r, "")})
		})
		return resp.GetTokens(), err
	}
	if err := s.allowManagement(ctx); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	all := s.state.Snapshot().ACLTokens(prefix)
	out := make([]*structs.ACLToken, 0, len(all))
	for _, t := range all {
		switch {
		case globalOnly && t.Global:
			out = append(out, t)
		case !globalOnly:
			out = append(out, redactToken(t))
		}
	}
	return out, nil
}

// redactToken returns tok without its secret.
func redactToken(tok *structs.ACLToken) *structs.ACLToken {
	if tok == nil || tok.SecretId == "" {
		return tok
	}
	c := proto.CloneOf(tok)
	c.SecretId = ""
	return c
}

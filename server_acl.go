package drover

import "context"

// The Server's ACL operations. The host's own calls act with its full
// authority unless WithToken attaches a caller's token to the context;
// with ACLs off (ACLOptions.Enabled false) they fail with ErrACLDisabled.

// ACLBootstrap creates the first management token, once; later calls fail
// with ErrACLBootstrapped. secret, when set, is the token's secret;
// otherwise one is generated. It needs no token.
func (s *Server) ACLBootstrap(ctx context.Context, secret string) (*ACLToken, error) {
	return s.srv.ACLBootstrap(ctx, secret)
}

// UpsertACLPolicies creates or replaces policies. Each must parse; the
// write is refused whole otherwise. Policies apply in every region. Needs
// a management token. It returns the raft index of the write.
func (s *Server) UpsertACLPolicies(ctx context.Context, policies []*ACLPolicy) (uint64, error) {
	return s.srv.UpsertACLPolicies(ctx, policies)
}

// DeleteACLPolicies removes policies by name. Needs a management token.
func (s *Server) DeleteACLPolicies(ctx context.Context, names []string) (uint64, error) {
	return s.srv.DeleteACLPolicies(ctx, names)
}

// ACLPolicy reads one policy: with a management token, or a token that
// holds the policy.
func (s *Server) ACLPolicy(ctx context.Context, name string) (*ACLPolicy, error) {
	return s.srv.ACLPolicy(ctx, name)
}

// ACLPolicies lists the policies whose name has prefix: all of them for a
// management token, a client token's own otherwise.
func (s *Server) ACLPolicies(ctx context.Context, prefix string) ([]*ACLPolicy, error) {
	return s.srv.ACLPolicies(ctx, prefix)
}

// UpsertACLTokens creates tokens (those without an accessor id: the
// accessor and secret are generated, and an expiration TTL starts now) or
// updates existing ones (name, type and policies; the secret, global flag
// and expiry never change). Needs a management token. It returns the
// tokens as stored, with their secrets.
func (s *Server) UpsertACLTokens(ctx context.Context, tokens []*ACLToken) ([]*ACLToken, error) {
	return s.srv.UpsertACLTokens(ctx, tokens)
}

// DeleteACLTokens removes tokens by accessor. Needs a management token.
func (s *Server) DeleteACLTokens(ctx context.Context, accessors []string) (uint64, error) {
	return s.srv.DeleteACLTokens(ctx, accessors)
}

// ACLToken reads a token by accessor, with its secret: with a management
// token, or the token itself.
func (s *Server) ACLToken(ctx context.Context, accessor string) (*ACLToken, error) {
	return s.srv.ACLToken(ctx, accessor)
}

// ACLTokenSelf returns the caller's own token, found by the secret
// WithToken attached to ctx.
func (s *Server) ACLTokenSelf(ctx context.Context) (*ACLToken, error) {
	return s.srv.ACLTokenSelf(ctx)
}

// ACLTokens lists the tokens whose accessor has prefix, without their
// secrets. With globalOnly it lists only the global tokens, with their
// secrets (what another region replicates). Needs a management token.
func (s *Server) ACLTokens(ctx context.Context, prefix string, globalOnly bool) ([]*ACLToken, error) {
	return s.srv.ACLTokens(ctx, prefix, globalOnly)
}

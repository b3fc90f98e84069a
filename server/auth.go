package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/metadata"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// Who is calling decides what a call may do:
//
//   - A call made in-process on *Server with a plain context acts with the
//     host's full authority: the host owns the server.
//   - A context from WithToken acts with that ACL token (the empty secret is
//     the anonymous caller). Every call that arrives over RPC or HTTP
//     carries one, so it never gets the host's authority by accident.
//   - A call one server of the region forwards on its host's behalf carries
//     the region's server secret, which only servers know (it lives in the
//     replicated state), and acts with the host's authority again.
//
// With ACLs disabled every caller may do everything.

// tokenKey carries the caller's ACL token secret in a context.
type tokenKey struct{}

// Metadata keys of forwarded calls.
const (
	// tokenHeader carries the caller's ACL token secret.
	tokenHeader = "x-nomad-token"
	// serverSecretHeader carries the region's server secret.
	serverSecretHeader = "x-drover-server-secret"
)

// anonymousPolicy is the policy that applies to calls without a token.
const anonymousPolicy = "anonymous"

// WithToken returns a context whose calls act with the ACL token whose
// secret is secret ("" is the anonymous caller) instead of the host's full
// authority. A host that builds its own API on top of a Server attaches
// its caller's token this way; the checks are those of the HTTP API.
func WithToken(ctx context.Context, secret string) context.Context {
	return context.WithValue(ctx, tokenKey{}, secret)
}

// tokenOf returns the caller's token secret, and false for the host.
func tokenOf(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(tokenKey{}).(string)
	return s, ok
}

// incomingAuth turns an RPC's metadata into the caller of its context: the
// token it presents, or the host's authority for a call forwarded by a
// server of the region.
func (s *Server) incomingAuth(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	if secret := first(md.Get(serverSecretHeader)); secret != "" {
		if own := s.state.Snapshot().ServerSecret(); own != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(own)) == 1 {
			return ctx
		}
		s.logger.Warn("refused a forwarded call: the server secret does not match this region's")
	}
	return WithToken(ctx, first(md.Get(tokenHeader)))
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// outgoingAuth adds the caller of ctx to a call forwarded to another
// server: its token, or for the host's own calls the region's server
// secret (to another region, the ACL replication token, since regions do
// not share a server secret).
func (s *Server) outgoingAuth(ctx context.Context, region string) context.Context {
	if secret, ok := tokenOf(ctx); ok {
		if secret == "" {
			return ctx
		}
		return metadata.AppendToOutgoingContext(ctx, tokenHeader, secret)
	}
	if region != "" && region != s.cfg.Region {
		if t := s.cfg.ACL.ReplicationToken; t != "" {
			return metadata.AppendToOutgoingContext(ctx, tokenHeader, t)
		}
		return ctx
	}
	if secret := s.state.Snapshot().ServerSecret(); secret != "" {
		return metadata.AppendToOutgoingContext(ctx, serverSecretHeader, secret)
	}
	return ctx
}

// errDenied is what a refused call returns.
func errDenied(what string) error {
	return fmt.Errorf("%w: %s", ErrPermissionDenied, what)
}

// authorize resolves the caller of ctx to what it may do. ACLs off and the
// host's own calls get the management ACL.
func (s *Server) authorize(ctx context.Context) (*acl.ACL, error) {
	a, _, err := s.authorizeToken(ctx)
	return a, err
}

// CallerACL resolves the caller of ctx to what it may do: the management
// ACL for the host's own calls and with ACLs off, the token's policies
// otherwise. It fails with ErrTokenNotFound for an unknown or expired
// token.
func (s *Server) CallerACL(ctx context.Context) (*acl.ACL, error) { return s.authorize(ctx) }

// authorizeToken is authorize that also returns the caller's token (nil
// for the host, the anonymous caller, or with ACLs off).
func (s *Server) authorizeToken(ctx context.Context) (*acl.ACL, *structs.ACLToken, error) {
	if !s.cfg.ACL.Enabled {
		return acl.ManagementACL, nil, nil
	}
	secret, ok := tokenOf(ctx)
	if !ok {
		return acl.ManagementACL, nil, nil
	}
	if secret == "" {
		a, err := s.acls.compile(s.state.Snapshot(), []string{anonymousPolicy})
		return a, nil, err
	}
	if looksLikeJWT(secret) {
		// A task's workload identity: it grants no policy capability;
		// the endpoints that accept one (variables, services) check its
		// claims themselves.
		if _, err := s.verifyWorkloadIdentity(s.state.Snapshot(), secret); err != nil {
			s.metrics.aclDenied.Inc()
			return nil, nil, err
		}
		a, err := s.acls.compile(s.state.Snapshot(), nil)
		return a, nil, err
	}
	tok, err := s.resolveToken(ctx, secret)
	if err != nil {
		s.metrics.aclDenied.Inc()
		return nil, nil, err
	}
	if tok.Type == structs.ACLTokenTypeManagement {
		return acl.ManagementACL, tok, nil
	}
	a, err := s.acls.compile(s.state.Snapshot(), tok.Policies)
	return a, tok, err
}

// resolveToken finds the live token of a secret. A token created on the
// leader moments ago may not have reached this server yet: unless the
// read may be stale, a miss waits for this server to catch up and looks
// again.
func (s *Server) resolveToken(ctx context.Context, secret string) (*structs.ACLToken, error) {
	tok := s.state.Snapshot().ACLTokenBySecret(secret)
	if tok == nil && !isStale(ctx) {
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
		tok = s.state.Snapshot().ACLTokenBySecret(secret)
	}
	if tok == nil {
		return nil, ErrTokenNotFound
	}
	if tokenExpired(tok, s.cfg.Clock.Now().UnixNano()) {
		return nil, fmt.Errorf("%w (expired)", ErrTokenNotFound)
	}
	return tok, nil
}

// tokenExpired reports whether tok has expired at now (unix nanos).
func tokenExpired(tok *structs.ACLToken, now int64) bool {
	return tok.ExpirationTime != 0 && tok.ExpirationTime <= now
}

// allow checks one permission of ctx's caller; what names it in the
// refusal.
func (s *Server) allow(ctx context.Context, what string, ok func(*acl.ACL) bool) error {
	a, err := s.authorize(ctx)
	if err != nil {
		return err
	}
	if !ok(a) {
		s.metrics.aclDenied.Inc()
		return errDenied(what)
	}
	return nil
}

// allowNamespace checks a namespace capability: any one of capabilities
// will do (Nomad's fine-grained ones stand beside the broad ones, such as
// register-job beside submit-job).
func (s *Server) allowNamespace(ctx context.Context, ns string, capabilities ...string) error {
	if ns == "" {
		ns = structs.DefaultNamespace
	}
	return s.allow(ctx, capabilities[0]+" in namespace "+strconv.Quote(ns), func(a *acl.ACL) bool {
		return a.AllowNamespaceOperationAnyOf(ns, capabilities...)
	})
}

// allowManagement checks for a management token.
func (s *Server) allowManagement(ctx context.Context) error {
	return s.allow(ctx, "a management token is required", (*acl.ACL).IsManagement)
}

// newSecret returns a random UUID-shaped secret.
func newSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// aclCache keeps parsed policies and compiled ACLs, keyed by what they
// were built from (names and modify indexes), so a change to a policy is
// seen at once and an unchanged one is not parsed again.
type aclCache struct {
	mu       sync.Mutex
	policies map[string]*acl.Policy
	acls     map[string]*acl.ACL
}

// maxACLCache bounds each of the cache's maps; a full map starts over.
const maxACLCache = 1024

func newACLCache() *aclCache {
	return &aclCache{policies: map[string]*acl.Policy{}, acls: map[string]*acl.ACL{}}
}

// compile returns the ACL of the named policies as the snapshot has them.
// A name with no policy grants nothing.
func (c *aclCache) compile(snap *state.Snapshot, names []string) (*acl.ACL, error) {
	found := make([]*structs.ACLPolicy, 0, len(names))
	var key strings.Builder
	for _, n := range slices.Sorted(slices.Values(names)) {
		if p := snap.ACLPolicy(n); p != nil && (len(found) == 0 || found[len(found)-1].Name != n) {
			found = append(found, p)
			fmt.Fprintf(&key, "%s\x00%d\x00", p.Name, p.ModifyIndex)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.acls[key.String()]; a != nil {
		return a, nil
	}
	parsed := make([]*acl.Policy, 0, len(found))
	for _, p := range found {
		pk := p.Name + "\x00" + strconv.FormatUint(p.ModifyIndex, 10)
		pp := c.policies[pk]
		if pp == nil {
			var err error
			if pp, err = acl.Parse(p.Rules); err != nil {
				// Stored policies were parsed when written; one that no
				// longer parses grants nothing.
				continue
			}
			if len(c.policies) >= maxACLCache {
				clear(c.policies)
			}
			c.policies[pk] = pp
		}
		parsed = append(parsed, pp)
	}
	a, err := acl.Compile(parsed)
	if err != nil {
		return nil, err
	}
	if len(c.acls) >= maxACLCache {
		clear(c.acls)
	}
	c.acls[key.String()] = a
	return a, nil
}

// authorizeList resolves the caller of a list: a named namespace must
// allow capability; with all namespaces ("") the caller's ACL filters the
// results (see visible).
func (s *Server) authorizeList(ctx context.Context, namespace, capability string) (*acl.ACL, error) {
	a, err := s.authorize(ctx)
	if err != nil {
		return nil, err
	}
	if namespace != "" && !a.AllowNamespaceOperation(namespace, capability) {
		s.metrics.aclDenied.Inc()
		return nil, errDenied(capability + " in namespace " + strconv.Quote(namespace))
	}
	if namespace == "" && !a.IsManagement() && !a.AllowAnyNamespaceOperation(capability) {
		s.metrics.aclDenied.Inc()
		return nil, errDenied(capability + " in any namespace")
	}
	return a, nil
}

// namespaced is an object that lives in a namespace.
type namespaced interface{ GetNamespace() string }

// visible keeps the objects whose namespace allows capability.
func visible[T namespaced](a *acl.ACL, capability string, objs []T) []T {
	if a.IsManagement() {
		return objs
	}
	return slices.DeleteFunc(objs, func(o T) bool { return !a.AllowNamespaceOperation(o.GetNamespace(), capability) })
}

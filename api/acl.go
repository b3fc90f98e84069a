package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// ACLBackend manages ACL policies and tokens. Every method acts as the
// caller of its context (see StateBackend.WithToken).
type ACLBackend interface {
	// ACLBootstrap creates the first management token, once; secret, when
	// set, becomes its secret.
	ACLBootstrap(ctx context.Context, secret string) (*structs.ACLToken, error)
	UpsertACLPolicies(ctx context.Context, policies []*structs.ACLPolicy) (uint64, error)
	DeleteACLPolicies(ctx context.Context, names []string) (uint64, error)
	ACLPolicy(ctx context.Context, name string) (*structs.ACLPolicy, error)
	ACLPolicies(ctx context.Context, prefix string) ([]*structs.ACLPolicy, error)
	// UpsertACLTokens creates (no accessor, or an accessor and secret not
	// in use) or updates tokens and returns them as stored, with secrets.
	UpsertACLTokens(ctx context.Context, tokens []*structs.ACLToken) ([]*structs.ACLToken, error)
	DeleteACLTokens(ctx context.Context, accessors []string) (uint64, error)
	ACLToken(ctx context.Context, accessor string) (*structs.ACLToken, error)
	// ACLTokenSelf is the caller's own token.
	ACLTokenSelf(ctx context.Context) (*structs.ACLToken, error)
	// ACLTokens lists tokens without their secrets.
	ACLTokens(ctx context.Context, prefix string, globalOnly bool) ([]*structs.ACLToken, error)
}

// requestToken is the ACL token secret a request carries: the
// X-Nomad-Token header, or an Authorization bearer token.
func requestToken(r *http.Request) string {
	if t := r.Header.Get("X-Nomad-Token"); t != "" {
		return strings.TrimSpace(t)
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		if scheme, tok, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

// aclPolicyJSON is Nomad's ACLPolicy.
type aclPolicyJSON struct {
	Name        string
	Description string
	Rules       string
	CreateIndex uint64
	ModifyIndex uint64
}

// aclPolicyStubJSON is Nomad's ACLPolicyListStub.
type aclPolicyStubJSON struct {
	Name        string
	Description string
	CreateIndex uint64
	ModifyIndex uint64
}

// aclTokenJSON is Nomad's ACLToken. ExpirationTTL travels as a duration
// string ("1h") or as nanoseconds.
type aclTokenJSON struct {
	AccessorID     string
	SecretID       string
	Name           string
	Type           string
	Policies       []string
	Roles          []any
	Global         bool
	CreateTime     time.Time
	ExpirationTime *time.Time `json:",omitempty"`
	ExpirationTTL  ttlJSON    `json:",omitempty"`
	CreateIndex    uint64
	ModifyIndex    uint64
}

// aclTokenStubJSON is Nomad's ACLTokenListStub: no secret.
type aclTokenStubJSON struct {
	AccessorID     string
	Name           string
	Type           string
	Policies       []string
	Roles          []any
	Global         bool
	CreateTime     time.Time
	ExpirationTime *time.Time `json:",omitempty"`
	CreateIndex    uint64
	ModifyIndex    uint64
}

// ttlJSON reads a duration given as a string or as nanoseconds, and
// writes it as a string.
type ttlJSON time.Duration

func (t ttlJSON) MarshalJSON() ([]byte, error) {
	if t == 0 {
		return []byte(`""`), nil
	}
	return json.Marshal(time.Duration(t).String())
}

func (t *ttlJSON) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		if v == "" {
			*t = 0
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("ExpirationTTL: %w", err)
		}
		*t = ttlJSON(d)
	case float64:
		*t = ttlJSON(time.Duration(v))
	case nil:
		*t = 0
	default:
		return fmt.Errorf("ExpirationTTL: want a duration string or nanoseconds")
	}
	return nil
}

func policyToJSON(p *structs.ACLPolicy) aclPolicyJSON {
	return aclPolicyJSON{Name: p.Name, Description: p.Description, Rules: p.Rules, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex}
}

func policyStub(p *structs.ACLPolicy) aclPolicyStubJSON {
	return aclPolicyStubJSON{Name: p.Name, Description: p.Description, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex}
}

func tokenToJSON(t *structs.ACLToken) aclTokenJSON {
	out := aclTokenJSON{
		AccessorID: t.AccessorId, SecretID: t.SecretId, Name: t.Name, Type: t.Type, Policies: nonNil(t.Policies),
		Roles: []any{}, Global: t.Global, CreateTime: time.Unix(0, t.CreateTime).UTC(),
		ExpirationTTL: ttlJSON(t.GetExpirationTtl().AsDuration()), CreateIndex: t.CreateIndex, ModifyIndex: t.ModifyIndex,
	}
	if t.ExpirationTtl == nil {
		out.ExpirationTTL = 0
	}
	if t.ExpirationTime != 0 {
		et := time.Unix(0, t.ExpirationTime).UTC()
		out.ExpirationTime = &et
	}
	return out
}

func tokenStub(t *structs.ACLToken) aclTokenStubJSON {
	full := tokenToJSON(t)
	return aclTokenStubJSON{
		AccessorID: full.AccessorID, Name: full.Name, Type: full.Type, Policies: full.Policies, Roles: full.Roles,
		Global: full.Global, CreateTime: full.CreateTime, ExpirationTime: full.ExpirationTime,
		CreateIndex: full.CreateIndex, ModifyIndex: full.ModifyIndex,
	}
}

func tokenFromJSON(in aclTokenJSON) *structs.ACLToken {
	t := &structs.ACLToken{AccessorId: in.AccessorID, SecretId: in.SecretID, Name: in.Name, Type: in.Type, Policies: in.Policies, Global: in.Global}
	if in.ExpirationTTL != 0 {
		t.ExpirationTtl = durationpb.New(time.Duration(in.ExpirationTTL))
	}
	if in.ExpirationTime != nil {
		t.ExpirationTime = in.ExpirationTime.UnixNano()
	}
	return t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// aclBootstrap serves PUT /v1/acl/bootstrap.
func (h *Handler) aclBootstrap(w http.ResponseWriter, r *http.Request, _ []string) error {
	var req struct{ BootstrapSecret string }
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil && !isMissingBody(err) {
			return err
		}
	}
	tok, err := h.b.ACLBootstrap(r.Context(), req.BootstrapSecret)
	if err != nil {
		return err
	}
	return h.writeResult(w, tok.ModifyIndex, tokenToJSON(tok))
}

func isMissingBody(err error) bool {
	he, ok := err.(*httpError)
	return ok && he.msg == "request body is missing"
}

func (h *Handler) listACLPolicies(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		ps, err := h.b.ACLPolicies(q.ctx, q.prefix)
		if err != nil {
			return nil, err
		}
		out := make([]aclPolicyStubJSON, 0, len(ps))
		for _, p := range ps {
			out = append(out, policyStub(p))
		}
		return out, nil
	})
}

// selfACLPolicies serves GET /v1/acl/policy/self: the caller's policies.
func (h *Handler) selfACLPolicies(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		tok, err := h.b.ACLTokenSelf(q.ctx)
		if err != nil {
			return nil, err
		}
		out := []aclPolicyStubJSON{}
		for _, name := range tok.Policies {
			p, err := h.b.ACLPolicy(q.ctx, name)
			if err != nil {
				continue // a policy the token names may have been deleted
			}
			out = append(out, policyStub(p))
		}
		return out, nil
	})
}

func (h *Handler) getACLPolicy(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		p, err := h.b.ACLPolicy(q.ctx, params[0])
		if err != nil {
			return nil, err
		}
		return policyToJSON(p), nil
	})
}

func (h *Handler) putACLPolicy(w http.ResponseWriter, r *http.Request, params []string) error {
	var in aclPolicyJSON
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.Name == "" {
		in.Name = params[0]
	}
	if in.Name != params[0] {
		return badRequest("policy name in the body (%s) differs from the one in the path (%s)",
			structs.Quote(in.Name), structs.Quote(params[0]))
	}
	idx, err := h.b.UpsertACLPolicies(r.Context(), []*structs.ACLPolicy{{Name: in.Name, Description: in.Description, Rules: in.Rules}})
	if err != nil {
		return err
	}
	return h.writeResult(w, idx, nil)
}

func (h *Handler) deleteACLPolicy(w http.ResponseWriter, r *http.Request, params []string) error {
	idx, err := h.b.DeleteACLPolicies(r.Context(), []string{params[0]})
	if err != nil {
		return err
	}
	return h.writeResult(w, idx, nil)
}

func (h *Handler) listACLTokens(w http.ResponseWriter, r *http.Request, _ []string) error {
	global, err := boolParam(r, "global")
	if err != nil {
		return err
	}
	return h.read(w, r, func(q queryOptions) (any, error) {
		toks, err := h.b.ACLTokens(q.ctx, q.prefix, false)
		if err != nil {
			return nil, err
		}
		out := make([]aclTokenStubJSON, 0, len(toks))
		for _, t := range toks {
			if global && !t.Global {
				continue
			}
			out = append(out, tokenStub(t))
		}
		return out, nil
	})
}

// createACLToken serves PUT /v1/acl/token: a new token.
func (h *Handler) createACLToken(w http.ResponseWriter, r *http.Request, _ []string) error {
	var in aclTokenJSON
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.AccessorID != "" {
		return badRequest("a new token takes no AccessorID; update one at /v1/acl/token/<accessor>")
	}
	return h.upsertACLToken(w, r, in)
}

// updateACLToken serves PUT /v1/acl/token/:accessor: an update, or the
// upload of a client token with given ids.
func (h *Handler) updateACLToken(w http.ResponseWriter, r *http.Request, params []string) error {
	var in aclTokenJSON
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.AccessorID == "" {
		in.AccessorID = params[0]
	}
	if in.AccessorID != params[0] {
		return badRequest("token accessor in the body differs from the one in the path")
	}
	return h.upsertACLToken(w, r, in)
}

func (h *Handler) upsertACLToken(w http.ResponseWriter, r *http.Request, in aclTokenJSON) error {
	toks, err := h.b.UpsertACLTokens(r.Context(), []*structs.ACLToken{tokenFromJSON(in)})
	if err != nil {
		return err
	}
	if len(toks) != 1 {
		return fmt.Errorf("token write returned %d tokens", len(toks))
	}
	return h.writeResult(w, toks[0].ModifyIndex, tokenToJSON(toks[0]))
}

func (h *Handler) getACLToken(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		t, err := h.b.ACLToken(q.ctx, params[0])
		if err != nil {
			return nil, err
		}
		return tokenToJSON(t), nil
	})
}

func (h *Handler) selfACLToken(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		t, err := h.b.ACLTokenSelf(q.ctx)
		if err != nil {
			return nil, err
		}
		return tokenToJSON(t), nil
	})
}

func (h *Handler) deleteACLToken(w http.ResponseWriter, r *http.Request, params []string) error {
	idx, err := h.b.DeleteACLTokens(r.Context(), []string{params[0]})
	if err != nil {
		return err
	}
	return h.writeResult(w, idx, nil)
}

// check refuses a request whose caller lacks a permission the handler
// checks itself (for endpoints with no backend call of their own).
func (h *Handler) check(r *http.Request, what string, ok func(*acl.ACL) bool) error {
	a, err := h.b.CallerACL(r.Context())
	if err != nil {
		return err
	}
	if !ok(a) {
		return fmt.Errorf("%w: %s", structs.ErrPermissionDenied, what)
	}
	return nil
}

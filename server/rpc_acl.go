package server

import (
	"context"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

func (r *rpcServer) ACLBootstrap(ctx context.Context, req *structs.ACLBootstrapRequest) (*structs.ACLTokenResponse, error) {
	tok, err := r.s.ACLBootstrap(callCtx(ctx, nil), req.GetSecretId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.ACLTokenResponse{Token: tok}, nil
}

func (r *rpcServer) UpsertACLPolicies(ctx context.Context, req *structs.ACLPolicyUpsertRequest) (*structs.GenericResponse, error) {
	idx, err := r.s.UpsertACLPolicies(callCtx(ctx, nil), req.GetPolicies())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) DeleteACLPolicies(ctx context.Context, req *structs.ACLPolicyDeleteRequest) (*structs.GenericResponse, error) {
	idx, err := r.s.DeleteACLPolicies(callCtx(ctx, nil), req.GetNames())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) GetACLPolicy(ctx context.Context, req *structs.ACLPolicyRequest) (*structs.ACLPolicyResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	p, err := r.s.ACLPolicy(ctx, req.GetName())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.ACLPolicyResponse{Policy: p, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) ListACLPolicies(ctx context.Context, req *structs.ACLListRequest) (*structs.ACLPolicyListResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	ps, err := r.s.ACLPolicies(ctx, req.GetPrefix())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.ACLPolicyListResponse{Policies: ps, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) UpsertACLTokens(ctx context.Context, req *structs.ACLTokenUpsertRequest) (*structs.ACLTokenListResponse, error) {
	toks, err := r.s.UpsertACLTokens(callCtx(ctx, nil), req.GetTokens())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.ACLTokenListResponse{Tokens: toks}, nil
}

func (r *rpcServer) DeleteACLTokens(ctx context.Context, req *structs.ACLTokenDeleteRequest) (*structs.GenericResponse, error) {
	idx, err := r.s.DeleteACLTokens(callCtx(ctx, nil), req.GetAccessorIds())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) GetACLToken(ctx context.Context, req *structs.ACLTokenRequest) (*structs.ACLTokenResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	var tok *structs.ACLToken
	if req.GetSelf() {
		tok, err = r.s.ACLTokenSelf(ctx)
	} else {
		tok, err = r.s.ACLToken(ctx, req.GetAccessorId())
	}
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.ACLTokenResponse{Token: tok, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) ListACLTokens(ctx context.Context, req *structs.ACLListRequest) (*structs.ACLTokenListResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	toks, err := r.s.ACLTokens(ctx, req.GetPrefix(), req.GetGlobalOnly())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.ACLTokenListResponse{Tokens: toks, Meta: r.queryMeta(idx)}, nil
}

package server

import (
	"context"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

// RPC endpoints of native service discovery, variables, the root keyring
// and workload identities.

func (r *rpcServer) UpdateServiceRegistrations(ctx context.Context, req *structs.ServiceRegistrationUpdateRequest) (*structs.GenericResponse, error) {
	idx, err := r.s.UpdateServiceRegistrations(callCtx(ctx, nil), req.GetNodeId(), req.GetSecretId(), req.GetUpserts(), req.GetDeleteAllocIds())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) ListServiceRegistrations(ctx context.Context, req *structs.ServiceRegistrationListRequest) (*structs.ServiceRegistrationListResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	regs, err := r.s.ServiceRegistrations(ctx, req.GetOptions().GetNamespace(), req.GetServiceName())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.ServiceRegistrationListResponse{Services: regs, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) DeleteServiceRegistration(ctx context.Context, req *structs.ServiceRegistrationDeleteRequest) (*structs.GenericResponse, error) {
	idx, err := r.s.DeleteServiceRegistration(callCtx(ctx, nil), req.GetNamespace(), req.GetServiceName(), req.GetId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}}, nil
}

func (r *rpcServer) ListVariables(ctx context.Context, req *structs.VariableListRequest) (*structs.VariableListResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	vars, err := r.s.Variables(ctx, req.GetOptions().GetNamespace(), req.GetPrefix())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.VariableListResponse{Variables: vars, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) GetVariable(ctx context.Context, req *structs.VariableGetRequest) (*structs.VariableResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	v, err := r.s.Variable(ctx, req.GetOptions().GetNamespace(), req.GetPath())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.VariableResponse{Variable: v, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) PutVariable(ctx context.Context, req *structs.VariablePutRequest) (*structs.VariableResponse, error) {
	var cas *uint64
	if req.GetCheckIndex() {
		c := req.GetCasIndex()
		cas = &c
	}
	w, err := r.s.PutVariable(callCtx(ctx, nil), req.GetVariable(), cas)
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return w, nil
}

func (r *rpcServer) DeleteVariable(ctx context.Context, req *structs.VariableDeleteRequest) (*structs.VariableResponse, error) {
	var cas *uint64
	if req.GetCheckIndex() {
		c := req.GetCasIndex()
		cas = &c
	}
	w, err := r.s.DeleteVariable(callCtx(ctx, nil), req.GetNamespace(), req.GetPath(), cas)
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return w, nil
}

func (r *rpcServer) ListRootKeys(ctx context.Context, req *structs.RootKeyListRequest) (*structs.RootKeyListResponse, error) {
	ctx, idx, err := r.prepareRead(ctx, req.GetOptions())
	if err != nil {
		return nil, err
	}
	keys, err := r.s.RootKeys(ctx)
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.RootKeyListResponse{Keys: keys, Meta: r.queryMeta(idx)}, nil
}

func (r *rpcServer) RotateRootKey(ctx context.Context, _ *structs.RootKeyRotateRequest) (*structs.RootKeyListResponse, error) {
	keys, err := r.s.RotateRootKey(callCtx(ctx, nil))
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.RootKeyListResponse{Keys: keys}, nil
}

func (r *rpcServer) SignAllocIdentities(ctx context.Context, req *structs.AllocIdentitiesRequest) (*structs.AllocIdentitiesResponse, error) {
	toks, err := r.s.SignAllocIdentities(callCtx(ctx, nil), req.GetNodeId(), req.GetSecretId(), req.GetAllocId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.AllocIdentitiesResponse{Tokens: toks}, nil
}

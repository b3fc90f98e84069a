package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// MaxVariableSize bounds a variable's items: the sum of their keys' and
// values' lengths (Nomad's limit, 64 KiB).
const MaxVariableSize = 64 << 10

// maxVariablePath is the longest variable path (Nomad's).
const maxVariablePath = 128

// ValidateVariablePath checks a variable path as Nomad does: 1 to 128 of
// letters, digits and - _ ~ /, no empty segment, and under the reserved
// top-level "nomad" only nomad/jobs and below.
func ValidateVariablePath(path string) error {
	bad := func(why string) error {
		return &structs.ValidationError{Problems: []string{"path " + structs.Quote(path) + ": " + why}}
	}
	if path == "" || len(path) > maxVariablePath {
		return bad(fmt.Sprintf("1 to %d characters", maxVariablePath))
	}
	for _, c := range path {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_~/", c)) {
			return bad("only letters, digits and - _ ~ / are allowed")
		}
	}
	parts := strings.Split(path, "/")
	if slices.Contains(parts, "") {
		return bad("no segment may be empty")
	}
	if parts[0] == "nomad" && (len(parts) == 1 || parts[1] != "jobs") {
		return bad(`"nomad" is reserved: write to nomad/jobs or below`)
	}
	return nil
}

// validateVariable checks a variable to store.
func validateVariable(v *structs.Variable) error {
	if err := ValidateVariablePath(v.GetPath()); err != nil {
		return err
	}
	if len(v.GetItems()) == 0 {
		return &structs.ValidationError{Problems: []string{"items: a variable needs at least one item"}}
	}
	size := 0
	for k, val := range v.Items {
		if k == "" {
			return &structs.ValidationError{Problems: []string{"items: a key may not be empty"}}
		}
		size += len(k) + len(val)
	}
	if size > MaxVariableSize {
		return &structs.ValidationError{Problems: []string{fmt.Sprintf("items: %d bytes, more than the %d a variable may hold", size, MaxVariableSize)}}
	}
	return nil
}

// variableAAD binds a sealed variable to its namespace and path: its
// ciphertext cannot be moved to another.
func variableAAD(ns, path string) []byte { return []byte("drover variable\x00" + ns + "\x00" + path) }

// sealVariable returns v as stored: its items sealed under the active
// root key of the current state.
func (s *Server) sealVariable(ctx context.Context, v *structs.Variable) (*structs.Variable, error) {
	key, err := s.rootKeys.active(s.state.Snapshot())
	if errors.Is(err, errNoRootKey) {
		// A leader that has only just taken office may not have made
		// the first key yet.
		if err := s.primeRootKey(ctx); err != nil {
			return nil, err
		}
		key, err = s.rootKeys.active(s.state.Snapshot())
	}
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(v.Items)
	if err != nil {
		return nil, err
	}
	return &structs.Variable{
		Namespace: v.Namespace, Path: v.Path, KeyId: key.id,
		EncryptedItems: seal(key.aead, plain, variableAAD(v.Namespace, v.Path)),
	}, nil
}

// openVariable returns a stored variable with its items decrypted.
func (s *Server) openVariable(v *structs.Variable) (*structs.Variable, error) {
	key, err := s.rootKeys.byID(s.state.Snapshot(), v.KeyId)
	if err != nil {
		return nil, fmt.Errorf("variable %s: %w", structs.Quote(v.Path), err)
	}
	plain, err := unseal(key.aead, v.EncryptedItems, variableAAD(v.Namespace, v.Path))
	if err != nil {
		return nil, fmt.Errorf("variable %s: decrypt: %w", structs.Quote(v.Path), err)
	}
	out := variableMetadata(v)
	if err := json.Unmarshal(plain, &out.Items); err != nil {
		return nil, fmt.Errorf("variable %s: decode: %w", structs.Quote(v.Path), err)
	}
	return out, nil
}

// variableMetadata is a variable without items, sealed or not.
func variableMetadata(v *structs.Variable) *structs.Variable {
	return &structs.Variable{
		Namespace: v.Namespace, Path: v.Path, CreateIndex: v.CreateIndex, ModifyIndex: v.ModifyIndex,
		CreateTime: v.CreateTime, ModifyTime: v.ModifyTime,
	}
}

// allowVariable checks capability on the variable at path: by the
// caller's ACL, or for a workload identity by Nomad's implicit rule (a
// task reads and lists nomad/jobs, nomad/jobs/<job>, .../<group> and
// .../<group>/<task> of its own namespace).
func (s *Server) allowVariable(ctx context.Context, ns, path, capability string) error {
	allowed, err := s.variableRights(ctx)
	if err != nil {
		return err
	}
	if !allowed(ns, path, capability) {
		s.metrics.aclDenied.Inc()
		return errDenied(fmt.Sprintf("%s on variable %s in namespace %s", capability, structs.Quote(path), structs.Quote(ns)))
	}
	return nil
}

// variableRights resolves the caller once, for checking many variables.
func (s *Server) variableRights(ctx context.Context) (func(ns, path, capability string) bool, error) {
	wi, err := s.workloadIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if wi != nil {
		return wi.allowsVariable, nil
	}
	a, err := s.authorize(ctx)
	if err != nil {
		return nil, err
	}
	return a.AllowVariableOperation, nil
}

func (w *workloadCaller) allowsVariable(ns, path, capability string) bool {
	if ns != w.Namespace || (capability != acl.VariablesCapabilityRead && capability != acl.VariablesCapabilityList) {
		return false
	}
	job := "nomad/jobs/" + w.JobID
	switch path {
	case "nomad/jobs", job, job + "/" + w.Group, job + "/" + w.Group + "/" + w.Task:
		return true
	}
	return false
}

// Variables lists the metadata of the variables of namespace ns ("*" for
// every namespace) whose path starts with prefix and that the caller may
// list.
func (s *Server) Variables(ctx context.Context, ns, prefix string) ([]*structs.Variable, error) {
	ns = orDefault(ns)
	allowed, err := s.variableRights(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	all := ns == "*"
	if all {
		ns = ""
	}
	var out []*structs.Variable
	for _, v := range s.state.Snapshot().Variables(ns, prefix) {
		if allowed(v.Namespace, v.Path, acl.VariablesCapabilityList) {
			out = append(out, variableMetadata(v))
		}
	}
	return out, nil
}

// Variable reads one variable, decrypted. It fails with ErrNotFound when
// there is none.
func (s *Server) Variable(ctx context.Context, ns, path string) (*structs.Variable, error) {
	ns = orDefault(ns)
	if err := s.allowVariable(ctx, ns, path, acl.VariablesCapabilityRead); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	v := s.state.Snapshot().Variable(ns, path)
	if v == nil {
		return nil, fmt.Errorf("%w: variable %s", ErrNotFound, structs.Quote(path))
	}
	return s.openVariable(v)
}

// PutVariable stores a variable, encrypted, through raft. With cas, the
// stored variable's modify index must be *cas (0: no variable may exist).
// The response holds the variable as stored, or, when the check-and-set
// index did not match, Conflict with the current variable (nil when there
// is none; without items unless the caller may read it).
func (s *Server) PutVariable(ctx context.Context, v *structs.Variable, cas *uint64) (*structs.VariableResponse, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: no variable", ErrBadRequest)
	}
	v = proto.CloneOf(v)
	v.Namespace = orDefault(v.Namespace)
	if err := validateVariable(v); err != nil {
		return nil, err
	}
	if err := s.allowVariable(ctx, v.Namespace, v.Path, acl.VariablesCapabilityWrite); err != nil {
		return nil, err
	}
	var out *structs.VariableResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		sealed, err := s.sealVariable(ctx, v)
		if err != nil {
			return err
		}
		c := &structs.VariableUpsert{Variable: sealed, CheckIndex: cas != nil}
		if cas != nil {
			c.CasIndex = *cas
		}
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_VariableUpsert{VariableUpsert: c}})
		out, err = s.variableOutcome(ctx, v.Namespace, v.Path, idx, err)
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		req := &structs.VariablePutRequest{Variable: v, CheckIndex: cas != nil}
		if cas != nil {
			req.CasIndex = *cas
		}
		resp, err := c.PutVariable(ctx, req)
		out = resp
		return err
	})
	return out, err
}

// DeleteVariable removes a variable through raft, with cas as PutVariable.
func (s *Server) DeleteVariable(ctx context.Context, ns, path string, cas *uint64) (*structs.VariableResponse, error) {
	ns = orDefault(ns)
	if err := ValidateVariablePath(path); err != nil {
		return nil, err
	}
	if err := s.allowVariable(ctx, ns, path, acl.VariablesCapabilityDestroy); err != nil {
		return nil, err
	}
	var out *structs.VariableResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		c := &structs.VariableDelete{Namespace: ns, Path: path, CheckIndex: cas != nil}
		if cas != nil {
			c.CasIndex = *cas
		}
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_VariableDelete{VariableDelete: c}})
		out, err = s.variableOutcome(ctx, ns, path, idx, err)
		if out != nil && !out.Conflict {
			out.Variable = nil
		}
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		req := &structs.VariableDeleteRequest{Namespace: ns, Path: path, CheckIndex: cas != nil}
		if cas != nil {
			req.CasIndex = *cas
		}
		resp, err := c.DeleteVariable(ctx, req)
		out = resp
		return err
	})
	return out, err
}

// variableOutcome reads back what a variable write did on the leader.
func (s *Server) variableOutcome(ctx context.Context, ns, path string, idx uint64, err error) (*structs.VariableResponse, error) {
	conflict := errors.Is(err, errVarConflict)
	if err != nil && !conflict {
		return nil, err
	}
	out := &structs.VariableResponse{Conflict: conflict, Index: max(idx, s.state.Index())}
	cur := s.state.Snapshot().Variable(ns, path)
	if cur == nil {
		return out, nil
	}
	if conflict && s.allowVariable(ctx, ns, path, acl.VariablesCapabilityRead) != nil {
		out.Variable = variableMetadata(cur)
		return out, nil
	}
	opened, err := s.openVariable(cur)
	if err != nil {
		return nil, err
	}
	out.Variable = opened
	return out, nil
}

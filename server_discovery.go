package drover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/droverhq/drover/structs"
)

// Native service discovery, variables and workload identities, under the
// names a user of the package writes (see docs/security.md and
// docs/http-api.md).
type (
	// ServiceRegistration is one registered instance of a service with
	// provider "nomad": where an allocation serves it.
	ServiceRegistration = structs.ServiceRegistration
	// Variable is a Nomad variable: items under a path of a namespace.
	Variable = structs.Variable
	// RootKey describes one key of the servers' keyring (without its
	// material).
	RootKey = structs.RootKey
	// WorkloadIdentity is a task's identity block.
	WorkloadIdentity = structs.WorkloadIdentity
)

// ServiceSummary is one service of a namespace: its name and the union of
// its registrations' tags.
type ServiceSummary struct {
	Namespace string
	Name      string
	Tags      []string
}

// ErrVariableConflict is what a variable write whose check-and-set index
// did not match fails with; the error is a *VariableConflictError.
var ErrVariableConflict = errors.New("variable check-and-set conflict")

// VariableConflictError carries the variable stored when a checked write
// lost: nil when none exists, without items when the caller may not read it.
type VariableConflictError struct {
	Current *Variable
}

func (e *VariableConflictError) Error() string {
	return fmt.Sprintf("%v: the stored variable's modify index is %d", ErrVariableConflict, e.Current.GetModifyIndex())
}

// Is makes errors.Is(err, ErrVariableConflict) hold.
func (e *VariableConflictError) Is(target error) bool { return target == ErrVariableConflict }

// ListServices lists the services registered in namespace ("" for every
// namespace the caller may read), by namespace and name.
func (s *Server) ListServices(ctx context.Context, namespace string) ([]ServiceSummary, error) {
	regs, err := s.srv.ServiceRegistrations(ctx, namespace, "")
	if err != nil {
		return nil, err
	}
	var out []ServiceSummary
	for _, r := range regs {
		if n := len(out); n == 0 || out[n-1].Namespace != r.Namespace || out[n-1].Name != r.ServiceName {
			out = append(out, ServiceSummary{Namespace: r.Namespace, Name: r.ServiceName})
		}
		last := &out[len(out)-1]
		for _, t := range r.Tags {
			if !slices.Contains(last.Tags, t) {
				last.Tags = append(last.Tags, t)
			}
		}
	}
	for i := range out {
		slices.Sort(out[i].Tags)
	}
	return out, nil
}

// ServiceRegistrations lists the registrations of service name in
// namespace ("" is the default namespace).
func (s *Server) ServiceRegistrations(ctx context.Context, namespace, name string) ([]*ServiceRegistration, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: a service name is required", structs.ErrBadRequest)
	}
	return s.srv.ServiceRegistrations(ctx, namespace, name)
}

// DeleteServiceRegistration removes one registration of a service (its
// client registers it again if its allocation still runs it).
func (s *Server) DeleteServiceRegistration(ctx context.Context, namespace, name, id string) error {
	_, err := s.srv.DeleteServiceRegistration(ctx, namespace, name, id)
	return err
}

// Variables lists the variables of namespace ("*" for every namespace)
// whose path has prefix, without their items.
func (s *Server) Variables(ctx context.Context, namespace, prefix string) ([]*Variable, error) {
	return s.srv.Variables(ctx, namespace, prefix)
}

// Variable reads one variable with its items; ErrNotFound when none.
func (s *Server) Variable(ctx context.Context, namespace, path string) (*Variable, error) {
	return s.srv.Variable(ctx, namespace, path)
}

// PutVariable stores a variable, encrypted. With cas, only if the stored
// variable's modify index is *cas (0: only if none exists); otherwise it
// fails with a *VariableConflictError.
func (s *Server) PutVariable(ctx context.Context, v *Variable, cas *uint64) (*Variable, error) {
	resp, err := s.srv.PutVariable(ctx, v, cas)
	if err != nil {
		return nil, err
	}
	if resp.Conflict {
		return nil, &VariableConflictError{Current: resp.Variable}
	}
	return resp.Variable, nil
}

// DeleteVariable removes a variable, with cas as PutVariable.
func (s *Server) DeleteVariable(ctx context.Context, namespace, path string, cas *uint64) error {
	resp, err := s.srv.DeleteVariable(ctx, namespace, path, cas)
	if err != nil {
		return err
	}
	if resp.Conflict {
		return &VariableConflictError{Current: resp.Variable}
	}
	return nil
}

// RootKeys lists the keyring's keys; it needs a management token.
func (s *Server) RootKeys(ctx context.Context) ([]*RootKey, error) { return s.srv.RootKeys(ctx) }

// RotateRootKey makes a new active root key now (older keys stay to
// decrypt and verify what they sealed and signed); it needs a management
// token.
func (s *Server) RotateRootKey(ctx context.Context) ([]*RootKey, error) {
	return s.srv.RotateRootKey(ctx)
}

// JWKS returns, as JSON, the public key set that verifies the workload
// identities the servers sign (what /.well-known/jwks.json serves).
func (s *Server) JWKS(ctx context.Context) ([]byte, error) {
	set, err := s.srv.JWKS(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(set)
}

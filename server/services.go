package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// Limits of a client's service registration request.
const (
	maxServiceRegistrations = 512
	maxServiceTags          = 64
	maxServiceFieldLen      = 256
)

// UpdateServiceRegistrations registers and deregisters the services of a
// node's allocations, as the node's client reports them. The node
// authenticates with its secret and may only touch its own allocations;
// what a registration says of its allocation (namespace, job, node,
// datacenter) is taken from the servers' state, not from the client.
func (s *Server) UpdateServiceRegistrations(ctx context.Context, nodeID, secretID string, upserts []*structs.ServiceRegistration, deleteAllocs []string) (uint64, error) {
	var idx uint64
	err := s.leaderCall(ctx, func(ctx context.Context) (err error) {
		idx, err = s.updateServiceRegistrations(ctx, nodeID, secretID, upserts, deleteAllocs)
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.UpdateServiceRegistrations(ctx, &structs.ServiceRegistrationUpdateRequest{
			NodeId: nodeID, SecretId: secretID, Upserts: upserts, DeleteAllocIds: deleteAllocs,
		})
		idx = resp.GetMeta().GetIndex()
		return err
	})
	return idx, err
}

func (s *Server) updateServiceRegistrations(ctx context.Context, nodeID, secretID string, upserts []*structs.ServiceRegistration, deleteAllocs []string) (uint64, error) {
	node, err := s.authNode(nodeID, secretID)
	if err != nil {
		return 0, err
	}
	if len(upserts)+len(deleteAllocs) > maxServiceRegistrations {
		return 0, fmt.Errorf("%w: at most %d service registrations per request", ErrBadRequest, maxServiceRegistrations)
	}
	snap := s.state.Snapshot()
	ownAlloc := func(id string) (*structs.Allocation, error) {
		a := snap.Alloc(id)
		if a == nil {
			return nil, fmt.Errorf("%w: allocation %s", ErrNotFound, structs.Quote(id))
		}
		if a.NodeId != nodeID {
			return nil, fmt.Errorf("%w: allocation %s belongs to another node", ErrPermissionDenied, structs.Quote(id))
		}
		return a, nil
	}
	var regs []*structs.ServiceRegistration
	for i, r := range upserts {
		if err := validateRegistration(i, r); err != nil {
			return 0, err
		}
		a, err := ownAlloc(r.AllocId)
		if err != nil {
			return 0, err
		}
		if !strings.HasPrefix(r.Id, ServiceIDPrefix(a.Id)) {
			return 0, fmt.Errorf("%w: service registration %d: id %s does not name its allocation", ErrBadRequest, i, structs.Quote(r.Id))
		}
		if a.ClientTerminal() {
			continue
		}
		regs = append(regs, &structs.ServiceRegistration{
			Id: r.Id, ServiceName: r.ServiceName, Namespace: a.Namespace, NodeId: nodeID, Datacenter: node.Datacenter,
			JobId: a.JobId, AllocId: a.Id, Tags: slices.Clone(r.Tags), Address: r.Address, Port: r.Port,
		})
	}
	var dels []string
	for _, id := range deleteAllocs {
		if snap.Alloc(id) == nil {
			continue // gone, and its registrations with it
		}
		if _, err := ownAlloc(id); err != nil {
			return 0, err
		}
		if len(snap.AllocServiceRegistrations(id)) > 0 {
			dels = append(dels, id)
		}
	}
	var cmds []*structs.LogCommand
	if len(dels) > 0 {
		cmds = append(cmds, &structs.LogCommand{Command: &structs.LogCommand_ServiceRegistrationDelete{
			ServiceRegistrationDelete: &structs.ServiceRegistrationDelete{AllocIds: dels}}})
	}
	if len(regs) > 0 {
		cmds = append(cmds, &structs.LogCommand{Command: &structs.LogCommand_ServiceRegistrationUpsert{
			ServiceRegistrationUpsert: &structs.ServiceRegistrationUpsert{Services: regs}}})
	}
	idx := s.state.Index()
	for _, c := range cmds {
		if idx, err = s.raft.Propose(ctx, c); err != nil {
			return 0, err
		}
	}
	return idx, nil
}

// ServiceIDPrefix is how the id of every registration of an allocation
// starts (Nomad's form: _nomad-task-<alloc id>-...).
func ServiceIDPrefix(allocID string) string { return "_nomad-task-" + allocID + "-" }

func validateRegistration(i int, r *structs.ServiceRegistration) error {
	bad := func(format string, args ...any) error {
		return &structs.ValidationError{Problems: []string{fmt.Sprintf("service registration %d: ", i) + fmt.Sprintf(format, args...)}}
	}
	switch {
	case r == nil:
		return bad("missing")
	case r.Id == "" || len(r.Id) > 4*maxServiceFieldLen:
		return bad("id: 1 to %d characters", 4*maxServiceFieldLen)
	case !structs.ValidServiceName(r.ServiceName):
		return bad("service name %s: 1 to 63 letters, digits and dashes, not starting or ending with a dash", structs.Quote(r.ServiceName))
	case r.AllocId == "":
		return bad("allocation id is required")
	case len(r.Tags) > maxServiceTags:
		return bad("at most %d tags", maxServiceTags)
	case len(r.Address) > maxServiceFieldLen:
		return bad("address is longer than %d", maxServiceFieldLen)
	case r.Port < 0 || r.Port > 65535:
		return bad("port %d is not a port number", r.Port)
	}
	for _, t := range r.Tags {
		if len(t) > maxServiceFieldLen {
			return bad("a tag is longer than %d", maxServiceFieldLen)
		}
	}
	return nil
}

// ServiceRegistrations lists the registrations of namespace ns ("" for
// every namespace the caller may read), of service name ("" for every
// service). Reading needs read-job in the namespace, or a workload
// identity of the namespace.
func (s *Server) ServiceRegistrations(ctx context.Context, ns, name string) ([]*structs.ServiceRegistration, error) {
	if name != "" && ns == "" {
		ns = structs.DefaultNamespace
	}
	a, wi, err := s.authorizeServiceRead(ctx, ns)
	if err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	snap := s.state.Snapshot()
	var out []*structs.ServiceRegistration
	if name != "" {
		out = snap.ServiceRegistrationsByName(ns, name)
	} else {
		out = snap.ServiceRegistrations(ns)
	}
	if wi != nil {
		return slices.DeleteFunc(out, func(r *structs.ServiceRegistration) bool { return r.Namespace != wi.Namespace }), nil
	}
	return visible(a, acl.NamespaceCapabilityReadJob, out), nil
}

// authorizeServiceRead lets a workload identity read its own namespace's
// services, and any other caller those its read-job allows.
func (s *Server) authorizeServiceRead(ctx context.Context, ns string) (*acl.ACL, *workloadCaller, error) {
	if wi, err := s.workloadIdentity(ctx); err != nil || wi != nil {
		if err != nil {
			return nil, nil, err
		}
		if ns != "" && ns != wi.Namespace {
			return nil, nil, errDenied("a workload identity reads the services of its own namespace only")
		}
		return nil, wi, nil
	}
	a, err := s.authorizeList(ctx, ns, acl.NamespaceCapabilityReadJob)
	return a, nil, err
}

// DeleteServiceRegistration removes one registration of service name in
// namespace ns. It needs submit-job (or delete-service-registration) in
// the namespace.
func (s *Server) DeleteServiceRegistration(ctx context.Context, ns, name, id string) (uint64, error) {
	ns = orDefault(ns)
	if err := s.allowNamespace(ctx, ns, acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityDeleteServiceRegistration); err != nil {
		return 0, err
	}
	var idx uint64
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		r := s.state.Snapshot().ServiceRegistration(id)
		if r == nil || r.Namespace != ns || r.ServiceName != name {
			return fmt.Errorf("%w: service registration %s of service %s", ErrNotFound, structs.Quote(id), structs.Quote(name))
		}
		var err error
		idx, err = s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_ServiceRegistrationDelete{
			ServiceRegistrationDelete: &structs.ServiceRegistrationDelete{Ids: []string{id}, Namespace: ns}}})
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.DeleteServiceRegistration(ctx, &structs.ServiceRegistrationDeleteRequest{Namespace: ns, ServiceName: name, Id: id})
		idx = resp.GetMeta().GetIndex()
		return err
	})
	return idx, err
}

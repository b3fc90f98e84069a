package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/droverhq/drover/structs"
)

// ServiceBackend reads and removes the registrations of native service
// discovery (services with provider "nomad").
type ServiceBackend interface {
	// ServiceRegistrations lists the registrations of a namespace ("" for
	// every namespace) of one service ("" for every service).
	ServiceRegistrations(ctx context.Context, namespace, name string) ([]*structs.ServiceRegistration, error)
	// DeleteServiceRegistration removes one registration of a service.
	DeleteServiceRegistration(ctx context.Context, namespace, name, id string) (uint64, error)
}

// serviceRegistrationJSON is Nomad's ServiceRegistration.
type serviceRegistrationJSON struct {
	ID          string
	ServiceName string
	Namespace   string
	NodeID      string
	Datacenter  string
	JobID       string
	AllocID     string
	Tags        []string
	Address     string
	Port        int
	CreateIndex uint64
	ModifyIndex uint64
}

// serviceListStubJSON is Nomad's ServiceRegistrationListStub: one
// namespace's services.
type serviceListStubJSON struct {
	Namespace string
	Services  []*serviceStubJSON
}

// serviceStubJSON is Nomad's ServiceRegistrationStub: a service's name and
// the union of its registrations' tags.
type serviceStubJSON struct {
	ServiceName string
	Tags        []string
}

func serviceRegistrationToJSON(r *structs.ServiceRegistration) *serviceRegistrationJSON {
	tags := r.Tags
	if tags == nil {
		tags = []string{}
	}
	return &serviceRegistrationJSON{
		ID: r.Id, ServiceName: r.ServiceName, Namespace: r.Namespace, NodeID: r.NodeId, Datacenter: r.Datacenter,
		JobID: r.JobId, AllocID: r.AllocId, Tags: tags, Address: r.Address, Port: int(r.Port),
		CreateIndex: r.CreateIndex, ModifyIndex: r.ModifyIndex,
	}
}

func (h *Handler) registerServiceRoutes() {
	h.handle("/v1/services", map[string]handlerFunc{http.MethodGet: h.listServices})
	h.handle("/v1/service/:", map[string]handlerFunc{http.MethodGet: h.getService})
	h.handle("/v1/service/:/:", map[string]handlerFunc{http.MethodDelete: h.deleteService})
	h.handle("/v1/job/:/services", map[string]handlerFunc{http.MethodGet: h.jobServices})
}

// listServices serves GET /v1/services: per namespace, the services
// registered and their tags, sorted by name.
func (h *Handler) listServices(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		regs, err := h.b.ServiceRegistrations(q.ctx, q.namespace, "")
		if err != nil {
			return nil, err
		}
		regs, err = filterBy(q, regs, serviceRegistrationToJSON)
		if err != nil {
			return nil, err
		}
		out := []*serviceListStubJSON{}
		var cur *serviceListStubJSON
		var stub *serviceStubJSON
		for _, sr := range regs { // sorted by namespace, then name
			if cur == nil || cur.Namespace != sr.Namespace {
				cur = &serviceListStubJSON{Namespace: sr.Namespace}
				out = append(out, cur)
				stub = nil
			}
			if stub == nil || stub.ServiceName != sr.ServiceName {
				stub = &serviceStubJSON{ServiceName: sr.ServiceName, Tags: []string{}}
				cur.Services = append(cur.Services, stub)
			}
			for _, t := range sr.Tags {
				if !slices.Contains(stub.Tags, t) {
					stub.Tags = append(stub.Tags, t)
				}
			}
		}
		for _, ns := range out {
			for _, s := range ns.Services {
				slices.Sort(s.Tags)
			}
		}
		return out, nil
	})
}

// getService serves GET /v1/service/:name: the service's registrations,
// filtered by tag= (every registration carrying it) and filter=.
func (h *Handler) getService(w http.ResponseWriter, r *http.Request, params []string) error {
	tag := r.URL.Query().Get("tag")
	return h.read(w, r, func(q queryOptions) (any, error) {
		regs, err := h.b.ServiceRegistrations(q.ctx, q.namespace, params[0])
		if err != nil {
			return nil, err
		}
		return h.registrationsJSON(w, q, regs, tag)
	})
}

func (h *Handler) registrationsJSON(w http.ResponseWriter, q queryOptions, regs []*structs.ServiceRegistration, tag string) ([]*serviceRegistrationJSON, error) {
	if tag != "" {
		regs = slices.DeleteFunc(slices.Clone(regs), func(sr *structs.ServiceRegistration) bool { return !slices.Contains(sr.Tags, tag) })
	}
	regs, err := filterBy(q, regs, serviceRegistrationToJSON)
	if err != nil {
		return nil, err
	}
	regs = paginate(w, q, regs, func(sr *structs.ServiceRegistration) string { return sr.Id })
	out := make([]*serviceRegistrationJSON, 0, len(regs))
	for _, sr := range regs {
		out = append(out, serviceRegistrationToJSON(sr))
	}
	return out, nil
}

// jobServices serves GET /v1/job/:id/services: the job's registrations.
func (h *Handler) jobServices(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		regs, err := h.b.ServiceRegistrations(q.ctx, q.namespace, "")
		if err != nil {
			return nil, err
		}
		regs = slices.DeleteFunc(slices.Clone(regs), func(sr *structs.ServiceRegistration) bool { return sr.JobId != params[0] })
		slices.SortFunc(regs, func(a, b *structs.ServiceRegistration) int { return strings.Compare(a.Id, b.Id) })
		return h.registrationsJSON(w, q, regs, "")
	})
}

// deleteService serves DELETE /v1/service/:name/:id.
func (h *Handler) deleteService(w http.ResponseWriter, r *http.Request, params []string) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	idx, err := h.b.DeleteServiceRegistration(r.Context(), q.namespace, params[0], params[1])
	if err != nil {
		return err
	}
	return h.writeResult(w, idx, struct{}{})
}

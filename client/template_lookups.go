package client

import (
	"context"
	"slices"

	"google.golang.org/grpc/metadata"

	"github.com/droverhq/drover/client/template"
	"github.com/droverhq/drover/structs"
)

// taskLookups reads variables and service registrations from the servers
// for one task's templates, acting with the task's workload identity: a
// task reads what Nomad lets its identity read (its job's variables
// under nomad/jobs/..., the services of its namespace), nothing more.
type taskLookups struct {
	ar   *allocRunner
	task string
}

func newTaskLookups(ar *allocRunner, task string) *taskLookups {
	return &taskLookups{ar: ar, task: task}
}

var _ template.Lookups = (*taskLookups)(nil)

// Variable implements template.Lookups (nomadVar).
func (l *taskLookups) Variable(ctx context.Context, path string) (map[string]string, error) {
	return l.variable(ctx, path)
}

// Variables implements template.Lookups (nomadVarList).
func (l *taskLookups) Variables(ctx context.Context, prefix string) ([]string, error) {
	return l.variablePaths(ctx, prefix)
}

// Services implements template.Lookups (nomadService, nomadServices).
func (l *taskLookups) Services(ctx context.Context, name string) ([]template.ServiceInstance, error) {
	regs, err := l.services(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]template.ServiceInstance, 0, len(regs))
	for _, r := range regs {
		out = append(out, template.ServiceInstance{
			ID: r.Id, Name: r.ServiceName, Address: r.Address, Port: int(r.Port),
			Tags: r.Tags, AllocID: r.AllocId, NodeID: r.NodeId,
		})
	}
	return out, nil
}

// asTask returns ctx carrying the task's identity for the servers, and
// the read options of the allocation's namespace.
func (l *taskLookups) asTask(ctx context.Context) (context.Context, *structs.QueryOptions, error) {
	tok, err := l.ar.workloadToken(ctx, l.task)
	if err != nil {
		return nil, nil, err
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "x-nomad-token", tok)
	return ctx, &structs.QueryOptions{Namespace: l.ar.current().Namespace}, nil
}

// variable returns the items of the variable at path.
func (l *taskLookups) variable(ctx context.Context, path string) (map[string]string, error) {
	ctx, q, err := l.asTask(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := call(ctx, l.ar.c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.VariableResponse, error) {
		return s.GetVariable(ctx, &structs.VariableGetRequest{Options: q, Path: path})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetVariable().GetItems(), nil
}

// variablePaths lists the paths of the variables under prefix the task
// may list.
func (l *taskLookups) variablePaths(ctx context.Context, prefix string) ([]string, error) {
	ctx, q, err := l.asTask(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := call(ctx, l.ar.c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.VariableListResponse, error) {
		return s.ListVariables(ctx, &structs.VariableListRequest{Options: q, Prefix: prefix})
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(resp.GetVariables()))
	for _, v := range resp.GetVariables() {
		out = append(out, v.GetPath())
	}
	slices.Sort(out)
	return out, nil
}

// services returns the registrations of service name in the task's
// namespace, or with name "" one registration per service name.
func (l *taskLookups) services(ctx context.Context, name string) ([]*structs.ServiceRegistration, error) {
	ctx, q, err := l.asTask(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := call(ctx, l.ar.c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.ServiceRegistrationListResponse, error) {
		return s.ListServiceRegistrations(ctx, &structs.ServiceRegistrationListRequest{Options: q, ServiceName: name})
	})
	if err != nil {
		return nil, err
	}
	regs := resp.GetServices()
	if name != "" {
		return regs, nil
	}
	var out []*structs.ServiceRegistration
	for _, r := range regs { // sorted by service name
		if len(out) == 0 || out[len(out)-1].ServiceName != r.ServiceName {
			out = append(out, r)
		}
	}
	return out, nil
}

package client

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/droverhq/drover/client/interpolate"
	"github.com/droverhq/drover/structs"
)

// Native service discovery: an allocation's services with provider
// "nomad" are registered with the servers while they run, and
// deregistered when the allocation stops. A group service is registered
// while any task of the allocation runs, a task service while its task
// runs. The servers also drop an allocation's registrations when it
// becomes terminal or its node goes down, so a client that dies does not
// leave them behind.

// serviceRetryMax bounds the wait between attempts to reach the servers.
const serviceRetryMax = 10 * time.Second

// startServiceRegistration starts registering the group's nomad services,
// if it has any, beside the allocation's tasks.
func (r *allocRunner) startServiceRegistration(ctx context.Context, tg *structs.TaskGroup) {
	if !hasNomadServices(tg) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.auxClosed {
		return
	}
	r.aux.Add(1)
	go func() {
		defer r.aux.Done()
		r.registerServices(ctx, tg)
	}()
}

func hasNomadServices(tg *structs.TaskGroup) bool {
	for _, s := range tg.GetServices() {
		if s.GetProvider() == structs.ServiceProviderNomad {
			return true
		}
	}
	for _, t := range tg.GetTasks() {
		for _, s := range t.GetServices() {
			if s.GetProvider() == structs.ServiceProviderNomad {
				return true
			}
		}
	}
	return false
}

// registerServices keeps the servers' registrations of the allocation in
// line with its running tasks until the allocation stops (then it
// deregisters them) or the client shuts down (then they stay, for the
// client to take up again).
func (r *allocRunner) registerServices(ctx context.Context, tg *structs.TaskGroup) {
	registered := map[string]*structs.ServiceRegistration{}
	backoff := time.Second
	retry := r.c.clock.NewTimer(0)
	defer retry.Stop()
	<-retry.C()
	for {
		r.mu.Lock()
		changed := r.healthCh
		r.mu.Unlock()
		want := r.wantedRegistrations(tg)
		if !sameRegistrations(want, registered) {
			if err := r.sendRegistrations(ctx, want, len(registered) > 0); err != nil {
				r.c.logger.Warn("registering services", "alloc", r.current().Id, "error", err)
				retry.Reset(backoff)
				backoff = min(2*backoff, serviceRetryMax)
			} else {
				registered, backoff = want, time.Second
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.stopCh:
			if len(registered) > 0 {
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := r.sendRegistrations(dctx, nil, true); err != nil {
					r.c.logger.Warn("deregistering services", "alloc", r.current().Id, "error", err)
				}
				cancel()
			}
			return
		case <-changed:
		case <-retry.C():
		}
	}
}

// wantedRegistrations are the registrations the allocation should have
// now, by id, interpolated with their task's environment (a group
// service's with that of the first running task).
func (r *allocRunner) wantedRegistrations(tg *structs.TaskGroup) map[string]*structs.ServiceRegistration {
	a := r.current()
	node := r.c.nodeCopy()
	ports := allocPorts(a, node)
	ip := node.GetAttributes()["unique.network.ip-address"]
	if ip == "" {
		ip = "127.0.0.1"
	}
	out := map[string]*structs.ServiceRegistration{}
	nodeVars := interpolate.NodeVars(node, r.c.cfg.Region)
	add := func(owner string, env taskEnv, s *structs.Service) {
		if s.GetProvider() != structs.ServiceProviderNomad {
			return
		}
		// Names, ports and tags may name runtime variables.
		s = interpolate.Vars{Env: env.env, Node: nodeVars}.Service(s)
		reg := &structs.ServiceRegistration{
			Id:          r.serviceID(owner, s),
			ServiceName: s.Name, AllocId: a.Id, Tags: s.Tags, Address: ip,
		}
		for _, p := range ports {
			if p.Label == s.Port {
				reg.Address, reg.Port = p.HostIP, int32(p.Value)
			}
		}
		if reg.Port == 0 {
			if n, err := strconv.Atoi(s.Port); err == nil {
				reg.Port = int32(n)
			}
		}
		out[reg.Id] = reg
	}
	var groupEnv *taskEnv
	for _, t := range tg.GetTasks() {
		if env, running := r.taskRunning(t.GetName()); running {
			if groupEnv == nil {
				groupEnv = &env
			}
			for _, s := range t.GetServices() {
				add(t.GetName(), env, s)
			}
		}
	}
	if groupEnv != nil {
		for _, s := range tg.GetServices() {
			add("group-"+tg.GetName(), *groupEnv, s)
		}
	}
	return out
}

// serviceID is Nomad's form of a registration id.
func (r *allocRunner) serviceID(owner string, s *structs.Service) string {
	return "_nomad-task-" + r.current().Id + "-" + owner + "-" + s.Name + "-" + s.Port
}

func sameRegistrations(a, b map[string]*structs.ServiceRegistration) bool {
	return maps.EqualFunc(a, b, func(x, y *structs.ServiceRegistration) bool {
		return x.Address == y.Address && x.Port == y.Port && slices.Equal(x.Tags, y.Tags)
	})
}

// sendRegistrations replaces the allocation's registrations with want
// (clearing the old ones first when there were some).
func (r *allocRunner) sendRegistrations(ctx context.Context, want map[string]*structs.ServiceRegistration, clearOld bool) error {
	req := &structs.ServiceRegistrationUpdateRequest{NodeId: r.c.id.NodeID, SecretId: r.c.id.SecretID}
	if clearOld {
		req.DeleteAllocIds = []string{r.current().Id}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		req.Upserts = append(req.Upserts, want[id])
	}
	if len(req.Upserts) == 0 && len(req.DeleteAllocIds) == 0 {
		return nil
	}
	_, err := call(ctx, r.c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.GenericResponse, error) {
		return s.UpdateServiceRegistrations(ctx, req)
	})
	return err
}

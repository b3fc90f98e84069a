package client

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// Allocation health. A service allocation placed (or updated in place) by
// a deployment, or of a group with a migrate block, is watched until its
// health is decided, as Nomad's client does:
//
//   - healthy once every task has been running, and (health_check
//     "checks") every service check that counts has been passing, without
//     interruption for min_healthy_time;
//   - unhealthy when a task fails or ends, or when healthy_deadline passes
//     first.
//
// The decision is sent with the allocation's status through the batched
// update path, for the deployment the allocation is in; it is decided
// once per deployment. With health_check "manual" an operator decides.

// healthParams are the rules one allocation's health is decided by.
type healthParams struct {
	deploymentID string
	kind         string
	minHealthy   time.Duration
	deadline     time.Duration
}

// healthRules returns the rules for a, or false when its health is not
// watched: not a service job, neither in a deployment nor of a group that
// migrates, manual, or already decided for its deployment.
func healthRules(a *structs.Allocation, tg *structs.TaskGroup) (healthParams, bool) {
	if a.GetJob().GetType() != structs.JobTypeService || tg == nil || a.DeploymentStatus.HasHealth() {
		return healthParams{}, false
	}
	p := healthParams{deploymentID: a.DeploymentId}
	switch u, m := tg.GetUpdate(), tg.GetMigrate(); {
	case a.DeploymentId != "" && u != nil:
		p.kind, p.minHealthy, p.deadline = u.GetHealthCheck(), u.MinHealthyTime.AsDuration(), u.HealthyDeadline.AsDuration()
	case a.DeploymentId == "" && m.GetMaxParallel() > 0:
		p.kind, p.minHealthy, p.deadline = m.GetHealthCheck(), m.MinHealthyTime.AsDuration(), m.HealthyDeadline.AsDuration()
	default:
		return healthParams{}, false
	}
	if p.kind == structs.HealthCheckManual {
		return healthParams{}, false
	}
	if p.deadline <= 0 {
		p.deadline = structs.DefaultUpdateHealthyDeadline
	}
	return p, true
}

// healthVerdict is what the inputs say right now.
type healthVerdict int

const (
	notYet    healthVerdict = iota // some task is not running, or some check not passing
	candidate                      // everything is up: healthy after min_healthy_time
	failed                         // a task failed or ended: unhealthy for good
)

// judge looks at the allocation's task states and, with checks, its
// counting checks.
func judge(states map[string]*structs.TaskState, tasks int, checks map[string]*checkState, useChecks bool) healthVerdict {
	if len(states) < tasks {
		return notYet
	}
	up := true
	for _, st := range states {
		switch {
		case st.Failed, st.State == structs.TaskStateDead:
			return failed
		case st.State != structs.TaskStateRunning:
			up = false
		}
	}
	if !up {
		return notYet
	}
	if useChecks {
		for _, c := range checks {
			if !c.counts() {
				continue
			}
			if c.status.Status != structs.CheckPassing && !(c.status.Status == structs.CheckWarning && c.ref.Check.OnUpdate == structs.OnUpdateIgnoreWarnings) {
				return notYet
			}
		}
	}
	return candidate
}

// watchHealth decides the allocation's health under p and reports it. It
// returns when it did, when ctx is done, or when the allocation's tasks
// are stopped.
func (r *allocRunner) watchHealth(ctx context.Context, p healthParams, tasks int) {
	deadline := r.c.clock.NewTimer(p.deadline)
	defer deadline.Stop()
	var (
		since   time.Time
		healthy clock.Timer
		fire    <-chan time.Time
	)
	defer func() {
		if healthy != nil {
			healthy.Stop()
		}
	}()
	useChecks := p.kind == structs.HealthCheckChecks
	for {
		r.mu.Lock()
		verdict := judge(r.states, tasks, r.checks, useChecks)
		changed := r.healthCh
		r.mu.Unlock()
		switch verdict {
		case failed:
			r.setHealth(p.deploymentID, false)
			return
		case candidate:
			if since.IsZero() {
				since = r.c.clock.Now()
				healthy = r.c.clock.NewTimer(p.minHealthy)
				fire = healthy.C()
			}
		default:
			if healthy != nil {
				healthy.Stop()
			}
			since, healthy, fire = time.Time{}, nil, nil
		}
		select {
		case <-ctx.Done():
			r.decideOnStop(p)
			return
		case <-r.stopCh:
			r.decideOnStop(p)
			return
		case <-changed:
		case <-fire:
			r.setHealth(p.deploymentID, true)
			return
		case <-deadline.C():
			r.c.logger.Info("allocation not healthy within its healthy deadline", "alloc", r.current().Id, "deadline", p.deadline)
			r.setHealth(p.deploymentID, false)
			return
		}
	}
}

// decideOnStop reports the allocation unhealthy when a failed task stopped
// it. A failed task stops the others and the allocation's run then ends:
// the watcher may see the stop, or the end of the run, before the
// failure's state change, and the failure decides all the same. A stop
// the servers asked for decides nothing.
func (r *allocRunner) decideOnStop(p healthParams) {
	r.mu.Lock()
	failed := r.failedStop
	r.mu.Unlock()
	if failed {
		r.setHealth(p.deploymentID, false)
	}
}

// healthChanged wakes the health watcher; r.mu is held.
func (r *allocRunner) healthChangedLocked() {
	close(r.healthCh)
	r.healthCh = make(chan struct{})
}

// setHealth records the allocation's health for deployment and sends it
// to the servers with the allocation's status.
func (r *allocRunner) setHealth(deployment string, healthy bool) {
	r.mu.Lock()
	if r.health != nil && r.health.deploymentID != deployment {
		r.mu.Unlock()
		return // the allocation moved to another deployment meanwhile
	}
	r.health = &reportedHealth{deploymentID: deployment, status: &structs.AllocDeploymentStatus{
		Healthy: proto.Bool(healthy), Timestamp: r.c.clock.Now().UnixNano(),
	}}
	quiet := r.shuttingDown
	r.mu.Unlock()
	r.c.logger.Info("allocation health decided", "alloc", r.current().Id, "healthy", healthy, "deployment", deployment)
	if !quiet {
		r.c.updates.push(r.statusUpdate())
	}
}

// reportedHealth is the health the client decided, for a deployment.
type reportedHealth struct {
	deploymentID string
	status       *structs.AllocDeploymentStatus
}

// startHealth starts watching the allocation's health when its rules say
// so, replacing a watch of an earlier deployment.
func (r *allocRunner) startHealth(ctx context.Context, a *structs.Allocation) {
	tg := findGroup(a)
	p, ok := healthRules(a, tg)
	r.mu.Lock()
	if r.healthCancel != nil {
		if r.health != nil && r.health.deploymentID == a.DeploymentId {
			r.mu.Unlock()
			return // already watched (or decided) for this deployment
		}
		r.healthCancel()
		r.healthCancel = nil
	}
	if !ok {
		r.mu.Unlock()
		return
	}
	if r.auxClosed {
		r.mu.Unlock()
		return
	}
	r.health = &reportedHealth{deploymentID: a.DeploymentId}
	hctx, cancel := context.WithCancel(ctx)
	r.healthCancel = cancel
	r.aux.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.aux.Done()
		r.watchHealth(hctx, p, len(tg.Tasks))
	}()
}

// statusUpdate is the allocation's status as the servers are told it:
// client status, task states, health and check results.
func (r *allocRunner) statusUpdate() *structs.Allocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statusUpdateLocked()
}

func (r *allocRunner) statusUpdateLocked() *structs.Allocation {
	states := make(map[string]*structs.TaskState, len(r.states))
	for k, v := range r.states {
		states[k] = v
	}
	status, desc := clientStatus(states)
	upd := &structs.Allocation{Id: r.alloc.Id, ClientStatus: status, ClientDescription: desc, TaskStates: states,
		Checks: r.checkStatusesLocked()}
	if h := r.health; h != nil && h.status != nil {
		upd.DeploymentId, upd.DeploymentStatus = h.deploymentID, h.status
	}
	return upd
}

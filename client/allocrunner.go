package client

import (
	"context"
	"fmt"
	"os"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// allocRunner runs the tasks of one allocation and reports its status.
type allocRunner struct {
	c *Client
	// dir is the allocation's directory; "" when dirErr says why the
	// allocation's id cannot name one.
	dir    string
	dirErr error

	mu     sync.Mutex
	alloc  *structs.Allocation
	states map[string]*structs.TaskState
	// shuttingDown: the client is stopping; nothing is reported any more.
	shuttingDown bool
	// announced is the modify index of the last unknown version of the
	// allocation whose status was sent again.
	announced uint64
	// runners are the task runners by task; envs what script checks need
	// of each task; checks the service checks and their results.
	runners map[string]*taskRunner
	envs    map[string]taskEnv
	checks  map[string]*checkState
	// health is the allocation's health for its deployment (status nil
	// while undecided); healthCh is closed and replaced when its inputs
	// change; healthCancel stops the watch; runCtx is run's context.
	health       *reportedHealth
	healthCh     chan struct{}
	healthCancel context.CancelFunc
	runCtx       context.Context
	// aux counts the check and health goroutines; run waits for them,
	// and auxClosed refuses new ones once it does.
	aux       sync.WaitGroup
	auxClosed bool

	stopOnce sync.Once
	stopCh   chan struct{} // closed to stop every task
	// failedStop says a failed task stopped the others (set under mu
	// before stopCh closes): the health watcher, which may see the stop
	// before the failure, reports the allocation unhealthy all the same.
	failedStop bool
	// lifeCh is poked when a task's state changes, for the lifecycle order.
	lifeCh chan struct{}
	// destroy: remove the allocation's directory and local state once its
	// tasks are stopped (the servers no longer know it).
	destroyOnce sync.Once
	destroyCh   chan struct{}
	done        chan struct{}

	restored map[string]*taskRecord
	// tasks are the task runners, by name, once run has made them.
	tasks map[string]*taskRunner
	// tokens caches the tasks' workload identities.
	tokens workloadTokens
}

func newAllocRunner(c *Client, a *structs.Allocation, restored map[string]*taskRecord) *allocRunner {
	dir, dirErr := allocDirFor(c.cfg.DataDir, a.Id)
	return &allocRunner{
		c:         c,
		dir:       dir,
		dirErr:    dirErr,
		alloc:     a,
		states:    map[string]*structs.TaskState{},
		stopCh:    make(chan struct{}),
		lifeCh:    make(chan struct{}, 1),
		destroyCh: make(chan struct{}),
		done:      make(chan struct{}),
		restored:  restored,
		healthCh:  make(chan struct{}),
		envs:      map[string]taskEnv{},
	}
}

// update takes the servers' latest version of the allocation.
func (r *allocRunner) update(a *structs.Allocation) {
	r.mu.Lock()
	if a.ModifyIndex < r.alloc.ModifyIndex {
		r.mu.Unlock()
		return // an older version, from a server behind
	}
	changed := a.DesiredStatus != r.alloc.DesiredStatus || a.AllocModifyIndex != r.alloc.AllocModifyIndex
	redeployed := a.DeploymentId != r.alloc.DeploymentId
	r.alloc = a
	runCtx := r.runCtx
	// Unknown: the servers lost track of the node for a while (its
	// heartbeats missed) and wait to hear how the allocation is. It is
	// still wanted, so its tasks go on; its status is sent again, once per
	// version of the allocation.
	reannounce := a.ClientStatus == structs.AllocClientUnknown && a.ModifyIndex != r.announced
	if reannounce {
		r.announced = a.ModifyIndex
	}
	r.mu.Unlock()
	if reannounce {
		r.reannounce()
	}
	if redeployed && runCtx != nil && a.DesiredStatus == structs.AllocDesiredRun {
		// Updated in place into a new deployment: its health is decided again.
		r.startHealth(runCtx, a)
	}
	if changed {
		if err := r.c.state.putAlloc(a); err != nil {
			r.c.logger.Error("recording allocation", "alloc", a.Id, "error", err)
		}
	}
	if a.DesiredStatus != structs.AllocDesiredRun {
		r.stop()
	}
}

func (r *allocRunner) stop() { r.stopOnce.Do(func() { close(r.stopCh) }) }

// destroy stops every task, then removes what the client holds of the
// allocation.
func (r *allocRunner) destroy() {
	r.destroyOnce.Do(func() { close(r.destroyCh) })
	r.stop()
}

// finished reports whether every task of the allocation has ended.
func (r *allocRunner) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// current returns the allocation as last received.
func (r *allocRunner) current() *structs.Allocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.alloc
}

func (r *allocRunner) run(ctx context.Context) {
	defer close(r.done)
	alloc := r.current()
	tg := findGroup(alloc)
	if tg == nil {
		r.fail(ctx, fmt.Sprintf("task group %q not found in job", alloc.TaskGroup))
		return
	}
	if err := r.makeDir(alloc.Id); err != nil {
		r.failTasks(ctx, tg, err)
		return
	}
	if r.restored == nil {
		r.takeStickyData(ctx, alloc, tg)
	}
	actx, cancel := context.WithCancel(ctx)
	defer func() {
		r.mu.Lock()
		r.auxClosed, r.runCtx = true, nil
		r.mu.Unlock()
		cancel()
		r.aux.Wait()
	}()
	runners := make([]*taskRunner, 0, len(tg.Tasks))
	byName := make(map[string]*taskRunner, len(tg.Tasks))
	r.mu.Lock()
	r.runners = map[string]*taskRunner{}
	r.runCtx = actx
	r.mu.Unlock()
	for _, task := range tg.Tasks {
		tr := newTaskRunner(r, alloc, tg, task, r.restored[task.Name])
		runners = append(runners, tr)
		byName[task.Name] = tr
		r.mu.Lock()
		r.states[task.Name] = proto.Clone(tr.st).(*structs.TaskState)
		r.runners[task.Name] = tr
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.tasks = byName
	r.mu.Unlock()
	r.initChecks(tg)
	r.runChecks(actx)
	r.startHealth(actx, alloc)
	r.startServiceRegistration(actx, tg)
	if r.restored == nil {
		// A new allocation: its tasks are received.
		for _, tr := range runners {
			tr.publish()
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.order(ctx, tg, byName)
	}()
	for _, tr := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.run(ctx)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		r.mu.Lock()
		r.shuttingDown = true
		r.mu.Unlock()
		return
	}
	select {
	case <-r.destroyCh:
		r.remove()
	default:
	}
}

// remove deletes the allocation's directory and local state.
func (r *allocRunner) remove() {
	if r.dir != "" {
		if err := os.RemoveAll(r.dir); err != nil {
			r.c.logger.Warn("removing allocation dir", "alloc", r.alloc.Id, "error", err)
		}
	}
	if err := r.c.state.deleteAlloc(r.alloc.Id); err != nil {
		r.c.logger.Warn("forgetting allocation", "alloc", r.alloc.Id, "error", err)
	}
}

func findGroup(a *structs.Allocation) *structs.TaskGroup {
	for _, tg := range a.GetJob().GetTaskGroups() {
		if tg.Name == a.TaskGroup {
			return tg
		}
	}
	return nil
}

// fail reports the allocation failed before any task could start.
func (r *allocRunner) fail(ctx context.Context, why string) {
	r.c.logger.Error("allocation failed", "alloc", r.alloc.Id, "reason", why)
	if ctx.Err() != nil {
		return
	}
	r.c.updates.push(&structs.Allocation{Id: r.alloc.Id, ClientStatus: structs.AllocClientFailed, ClientDescription: why})
}

// failTasks fails every task of the allocation before any could start,
// because its directory could not be made: each gets a setup-failure
// event saying why.
func (r *allocRunner) failTasks(ctx context.Context, tg *structs.TaskGroup, err error) {
	r.c.logger.Error("allocation failed", "alloc", r.current().Id, "error", err)
	if ctx.Err() != nil {
		return
	}
	now := r.c.clock.Now().UnixNano()
	for _, task := range tg.Tasks {
		r.c.metrics.taskFailures.Inc()
		st := &structs.TaskState{State: structs.TaskStateDead, Failed: true, FinishedAt: now, Events: []*structs.TaskEvent{{
			Type: structs.TaskEventSetupFailure, Time: now, Message: "allocation directory refused: " + err.Error(),
		}}}
		data, _ := proto.Marshal(st)
		r.setTaskState(task.Name, st, &taskRecord{State: data})
	}
}

// setTaskState records a task's new state locally, stops the other tasks
// when one failed, and queues the allocation's status for the servers.
func (r *allocRunner) setTaskState(task string, st *structs.TaskState, rec *taskRecord) {
	r.mu.Lock()
	r.states[task] = st
	upd := r.statusUpdateLocked()
	if upd.ClientStatus == structs.AllocClientFailed {
		r.failedStop = true
	}
	r.healthChangedLocked()
	id := r.alloc.Id
	quiet := r.shuttingDown
	r.mu.Unlock()
	select {
	case r.lifeCh <- struct{}{}:
	default:
	}
	if upd.ClientStatus == structs.AllocClientFailed {
		r.stop()
	}
	var p *pendingUpdate
	if !quiet {
		p = r.c.updates.next(upd)
	}
	if err := r.c.state.putTask(id, task, rec, p); err != nil {
		r.c.logger.Error("recording task state", "alloc", id, "task", task, "error", err)
	}
}

// reannounce queues the allocation's current status for the servers
// again; before its tasks are set up there is nothing to tell, and their
// first states will be sent anyway.
func (r *allocRunner) reannounce() {
	r.mu.Lock()
	if r.shuttingDown || len(r.states) == 0 {
		r.mu.Unlock()
		return
	}
	upd := r.statusUpdateLocked()
	r.mu.Unlock()
	r.c.logger.Info("servers marked the allocation unknown while the node was away; reporting it again", "alloc", upd.Id, "status", upd.ClientStatus)
	r.c.updates.push(upd)
}

// clientStatus derives an allocation's client status from its tasks.
func clientStatus(states map[string]*structs.TaskState) (string, string) {
	var running, dead int
	for name, s := range states {
		switch s.State {
		case structs.TaskStateDead:
			if s.Failed {
				return structs.AllocClientFailed, fmt.Sprintf("task %q failed", name)
			}
			dead++
		case structs.TaskStateRunning:
			running++
		}
	}
	switch {
	case dead == len(states):
		return structs.AllocClientComplete, "all tasks have completed"
	case running > 0:
		return structs.AllocClientRunning, "tasks are running"
	}
	return structs.AllocClientPending, "no tasks have started"
}

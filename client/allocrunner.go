package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// allocRunner runs the tasks of one allocation and reports its status.
type allocRunner struct {
	c   *Client
	dir string

	mu     sync.Mutex
	alloc  *structs.Allocation
	states map[string]*structs.TaskState

	stopOnce sync.Once
	stopCh   chan struct{} // closed to stop every task
	done     chan struct{}
}

func newAllocRunner(c *Client, a *structs.Allocation) *allocRunner {
	return &allocRunner{
		c:      c,
		dir:    filepath.Join(c.cfg.DataDir, "alloc", a.Id),
		alloc:  a,
		states: map[string]*structs.TaskState{},
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// update takes the servers' latest version of the allocation.
func (r *allocRunner) update(a *structs.Allocation) {
	r.mu.Lock()
	r.alloc = a
	r.mu.Unlock()
	if a.DesiredStatus != structs.AllocDesiredRun {
		r.stop()
	}
}

func (r *allocRunner) stop() { r.stopOnce.Do(func() { close(r.stopCh) }) }

// finished reports whether every task of the allocation has ended.
func (r *allocRunner) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// kill stops every task and waits for the runner to finish or ctx to end.
func (r *allocRunner) kill(ctx context.Context) {
	r.stop()
	select {
	case <-r.done:
	case <-ctx.Done():
	}
}

func (r *allocRunner) run(ctx context.Context) {
	defer close(r.done)
	r.mu.Lock()
	alloc := r.alloc
	r.mu.Unlock()
	tg := findGroup(alloc)
	if tg == nil {
		r.fail(ctx, fmt.Sprintf("task group %q not found in job", alloc.TaskGroup))
		return
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "alloc", "logs"), 0o755); err != nil {
		r.fail(ctx, fmt.Sprintf("create allocation dir: %v", err))
		return
	}
	var wg sync.WaitGroup
	for _, task := range tg.Tasks {
		tr := newTaskRunner(r, alloc, tg, task)
		r.setTaskState(ctx, task.Name, tr.state())
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.run(ctx)
		}()
	}
	wg.Wait()
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

// setTaskState records a task's new state, stops the other tasks when one
// failed, and queues the allocation's status for the servers.
func (r *allocRunner) setTaskState(ctx context.Context, task string, st *structs.TaskState) {
	r.mu.Lock()
	r.states[task] = st
	states := make(map[string]*structs.TaskState, len(r.states))
	for k, v := range r.states {
		states[k] = v
	}
	id := r.alloc.Id
	r.mu.Unlock()
	status, desc := clientStatus(states)
	if status == structs.AllocClientFailed {
		r.stop()
	}
	if ctx.Err() != nil {
		// The client is shutting down: tasks stop with it, which is not
		// something the servers should record as the tasks' fate.
		return
	}
	r.c.updates.push(&structs.Allocation{Id: id, ClientStatus: status, ClientDescription: desc, TaskStates: states})
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

// cloneState copies a task state for publication.
func cloneState(s *structs.TaskState) *structs.TaskState {
	return proto.Clone(s).(*structs.TaskState)
}

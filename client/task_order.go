package client

import (
	"context"
	"time"

	"github.com/droverhq/drover/structs"
)

// The tasks of an allocation start and stop in the order of their
// lifecycle blocks, as Nomad orders them:
//
//   - prestart tasks start first; the main tasks (no lifecycle block) start
//     once every prestart task that is no sidecar has completed
//     successfully and every prestart sidecar runs. A prestart task that
//     fails (past its restart policy) fails the allocation, and the main
//     tasks never start.
//   - poststart tasks start once every main task has started.
//   - when the main tasks have all ended, or the leader task has, the
//     sidecars and whatever else still runs are stopped.
//   - poststop tasks start once every other task has ended, whether the
//     allocation completed, failed or was stopped; they run to their end.
//
// A lifecycle task that is no sidecar runs until it succeeds: its restart
// policy restarts it only when it fails. Sidecars and main tasks follow
// the restart policy as any task does. A stop of the allocation waits the
// group's shutdown_delay, then stops every task but the poststop ones.

// phase is when a task runs in its allocation's lifecycle.
type phase int

const (
	phasePrestart phase = iota
	phaseMain
	phasePoststart
	phasePoststop
)

// phaseOf reads a task's lifecycle block.
func phaseOf(t *structs.Task) phase {
	switch t.GetLifecycle().GetHook() {
	case structs.LifecyclePrestart:
		return phasePrestart
	case structs.LifecyclePoststart:
		return phasePoststart
	case structs.LifecyclePoststop:
		return phasePoststop
	}
	return phaseMain
}

// runsOnce reports whether a task is done once it succeeds: a lifecycle
// task that is no sidecar.
func runsOnce(t *structs.Task) bool {
	return phaseOf(t) != phaseMain && !t.GetLifecycle().GetSidecar()
}

// waitGate waits until the lifecycle lets the task start; false when it
// was stopped first (it is then dead without having run) or the client is
// shutting down.
func (t *taskRunner) waitGate(ctx context.Context) bool {
	select {
	case <-t.gate:
		return true
	default:
	}
	select {
	case <-t.gate:
		return true
	case <-t.stopCh:
		t.finish(false)
		return false
	case <-ctx.Done():
		return false
	}
}

// stopTask makes the task's runner stop it; event, when not "", is the
// task event that says why (the runner reads it once stopCh is closed).
func (t *taskRunner) stopTask(event string) {
	t.stopOnce.Do(func() {
		t.stopEvent = event
		close(t.stopCh)
	})
}

// lifecycleOrder opens each task's gate and closes its stop channel in the
// lifecycle's order, until every task has ended or ctx is done.
type lifecycleOrder struct {
	r       *allocRunner
	tg      *structs.TaskGroup
	runners map[string]*taskRunner
	opened  map[string]bool
	// stopping: every task but the poststop ones is being stopped.
	stopping bool
}

// order runs the allocation's lifecycle; the allocation's runner calls it
// on a goroutine of its own and waits for it.
func (r *allocRunner) order(ctx context.Context, tg *structs.TaskGroup, runners map[string]*taskRunner) {
	o := &lifecycleOrder{r: r, tg: tg, runners: runners, opened: map[string]bool{}}
	stopCh := r.stopCh
	for {
		if o.step(ctx) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-r.lifeCh:
		case <-stopCh:
			stopCh = nil // seen once
			o.stopAll(ctx)
		}
	}
}

// stopAll stops every task but the poststop ones, after the group's
// shutdown delay.
func (o *lifecycleOrder) stopAll(ctx context.Context) {
	if o.stopping {
		return
	}
	o.stopping = true
	if d := o.tg.GetShutdownDelay().AsDuration(); d > 0 && o.anyRunning() {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
	for _, t := range o.tg.Tasks {
		if phaseOf(t) != phasePoststop {
			o.runners[t.Name].stopTask("")
		}
	}
}

func (o *lifecycleOrder) anyRunning() bool {
	o.r.mu.Lock()
	defer o.r.mu.Unlock()
	for _, st := range o.r.states {
		if st.GetState() == structs.TaskStateRunning {
			return true
		}
	}
	return false
}

func (o *lifecycleOrder) open(name string) {
	if !o.opened[name] {
		o.opened[name] = true
		close(o.runners[name].gate)
	}
}

// step applies the lifecycle to the tasks' current states; it reports
// whether every task has ended.
func (o *lifecycleOrder) step(ctx context.Context) bool {
	o.r.mu.Lock()
	states := make(map[string]*structs.TaskState, len(o.r.states))
	for k, v := range o.r.states {
		states[k] = v
	}
	o.r.mu.Unlock()
	dead := func(name string) bool { return states[name].GetState() == structs.TaskStateDead }
	var prestartReady, mainsStarted, mainsDead, othersDead, allDead, leaderDead = true, true, true, true, true, false
	var mains int
	for _, t := range o.tg.Tasks {
		st := states[t.Name]
		ph := phaseOf(t)
		switch {
		case ph == phasePrestart && t.GetLifecycle().GetSidecar():
			if st.GetState() != structs.TaskStateRunning && !dead(t.Name) {
				prestartReady = false
			}
		case ph == phasePrestart:
			if !dead(t.Name) || st.GetFailed() {
				prestartReady = false
			}
		case ph == phaseMain:
			mains++
			if st.GetStartedAt() == 0 && !dead(t.Name) {
				mainsStarted = false
			}
			if !dead(t.Name) {
				mainsDead = false
			}
		}
		if t.Leader && dead(t.Name) {
			leaderDead = true
		}
		if !dead(t.Name) {
			allDead = false
			if ph != phasePoststop {
				othersDead = false
			}
		}
	}
	if allDead {
		return true
	}
	for _, t := range o.tg.Tasks {
		if phaseOf(t) == phasePrestart {
			o.open(t.Name)
		}
	}
	if prestartReady && !o.stopping {
		for _, t := range o.tg.Tasks {
			if phaseOf(t) == phaseMain {
				o.open(t.Name)
			}
		}
	}
	if o.opened[firstMain(o.tg)] && mainsStarted && !o.stopping {
		for _, t := range o.tg.Tasks {
			if phaseOf(t) == phasePoststart {
				o.open(t.Name)
			}
		}
	}
	if (mains > 0 && mainsDead) || leaderDead {
		// The work is over: what still runs (sidecars) is stopped.
		o.stopping = true
		why := ""
		if leaderDead {
			why = structs.TaskEventLeaderDead
		}
		for _, t := range o.tg.Tasks {
			if phaseOf(t) != phasePoststop {
				o.runners[t.Name].stopTask(why)
			}
		}
	}
	if othersDead && ctx.Err() == nil {
		for _, t := range o.tg.Tasks {
			if phaseOf(t) == phasePoststop {
				o.open(t.Name)
			}
		}
	}
	return false
}

// firstMain names the group's first main task ("" when it has none).
func firstMain(tg *structs.TaskGroup) string {
	for _, t := range tg.Tasks {
		if phaseOf(t) == phaseMain {
			return t.Name
		}
	}
	return ""
}

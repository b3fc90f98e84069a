package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// maxTaskEvents bounds the events kept per task.
const maxTaskEvents = 10

// taskRunner drives one task through its driver: start, wait, restart per
// policy, and stop when asked.
type taskRunner struct {
	ar       *allocRunner
	alloc    *structs.Allocation
	tg       *structs.TaskGroup
	task     *structs.Task
	drv      driver.Driver
	restarts *restartTracker
	st       *structs.TaskState
}

func newTaskRunner(ar *allocRunner, a *structs.Allocation, tg *structs.TaskGroup, t *structs.Task) *taskRunner {
	tr := &taskRunner{
		ar: ar, alloc: a, tg: tg, task: t, drv: ar.c.drivers[t.Driver],
		restarts: newRestartTracker(tg.RestartPolicy, a.GetJob().GetType()),
		st:       &structs.TaskState{State: structs.TaskStatePending},
	}
	tr.event(structs.TaskEventReceived, "task received by client", nil)
	return tr
}

func (t *taskRunner) state() *structs.TaskState { return cloneState(t.st) }

// event appends a task event, keeping the last maxTaskEvents.
func (t *taskRunner) event(typ, msg string, res *driver.ExitResult) {
	ev := &structs.TaskEvent{Type: typ, Time: time.Now().UnixNano(), Message: msg}
	if res != nil {
		ev.ExitCode = int32(res.ExitCode)
		ev.Signal = int32(res.Signal)
		if res.Err != nil {
			ev.DriverError = res.Err.Error()
		}
	}
	t.st.Events = append(t.st.Events, ev)
	if n := len(t.st.Events); n > maxTaskEvents {
		t.st.Events = t.st.Events[n-maxTaskEvents:]
	}
}

func (t *taskRunner) publish(ctx context.Context) {
	t.ar.setTaskState(ctx, t.task.Name, t.state())
}

func (t *taskRunner) finish(ctx context.Context, failed bool) {
	t.st.State = structs.TaskStateDead
	t.st.Failed = failed
	t.st.FinishedAt = time.Now().UnixNano()
	t.publish(ctx)
}

func (t *taskRunner) run(ctx context.Context) {
	log := t.ar.c.logger.With("alloc", t.alloc.Id, "task", t.task.Name)
	if t.drv == nil {
		t.event(structs.TaskEventDriverFailure, fmt.Sprintf("driver %q is not available on this node", t.task.Driver), nil)
		t.ar.c.metrics.taskFailures.Inc()
		t.finish(ctx, true)
		return
	}
	for {
		cfg, err := t.taskConfig()
		var wait <-chan *driver.ExitResult
		if err == nil {
			_, err = t.drv.StartTask(ctx, cfg)
		}
		if err == nil {
			if wait, err = t.drv.WaitTask(context.Background(), cfg.ID); err != nil {
				_ = t.drv.DestroyTask(cfg.ID, true)
			}
		}
		var res *driver.ExitResult
		if err != nil {
			log.Warn("task failed to start", "error", err)
			t.event(structs.TaskEventDriverFailure, err.Error(), nil)
			res = &driver.ExitResult{ExitCode: -1, Err: err}
			if errors.Is(err, driver.ErrInvalidConfig) {
				t.ar.c.metrics.taskFailures.Inc()
				t.finish(ctx, true)
				return
			}
		} else {
			t.ar.c.metrics.taskStarts.Inc()
			t.st.State = structs.TaskStateRunning
			t.st.StartedAt = time.Now().UnixNano()
			t.event(structs.TaskEventStarted, "task started by client", nil)
			t.publish(ctx)
			select {
			case res = <-wait:
				t.event(structs.TaskEventTerminated, exitMessage(res), res)
				_ = t.drv.DestroyTask(cfg.ID, true)
			case <-t.ar.stopCh:
				t.kill(cfg, wait)
				t.finish(ctx, false)
				return
			case <-ctx.Done():
				t.kill(cfg, wait)
				t.finish(ctx, false)
				return
			}
		}
		d := t.restarts.next(time.Now(), res != nil && res.Successful())
		if !d.restart {
			if res.Successful() {
				t.finish(ctx, false)
			} else {
				t.event(structs.TaskEventNotRestarting, d.reason, nil)
				t.ar.c.metrics.taskFailures.Inc()
				t.finish(ctx, true)
			}
			return
		}
		t.st.Restarts++
		t.ar.c.metrics.taskRestarts.Inc()
		t.event(structs.TaskEventRestarting, fmt.Sprintf("task restarting in %s", d.wait), nil)
		t.st.State = structs.TaskStatePending
		t.publish(ctx)
		timer := time.NewTimer(d.wait)
		select {
		case <-timer.C:
		case <-t.ar.stopCh:
			timer.Stop()
			t.finish(ctx, false)
			return
		case <-ctx.Done():
			timer.Stop()
			t.finish(ctx, false)
			return
		}
	}
}

// kill stops a running task within its kill timeout and releases it.
func (t *taskRunner) kill(cfg *driver.TaskConfig, wait <-chan *driver.ExitResult) {
	t.event(structs.TaskEventKilling, "sent interrupt, waiting "+cfg.KillTimeout.String()+" before force kill", nil)
	kctx, cancel := context.WithTimeout(context.Background(), cfg.KillTimeout+5*time.Second)
	defer cancel()
	if err := t.drv.StopTask(kctx, cfg.ID, cfg.KillTimeout, cfg.KillSignal); err != nil {
		t.ar.c.logger.Warn("stopping task", "alloc", t.alloc.Id, "task", t.task.Name, "error", err)
	}
	select {
	case res := <-wait:
		t.event(structs.TaskEventKilled, "task successfully killed", res)
	case <-kctx.Done():
		t.event(structs.TaskEventKilled, "task did not confirm its exit", nil)
	}
	_ = t.drv.DestroyTask(cfg.ID, true)
}

func exitMessage(res *driver.ExitResult) string {
	if res == nil {
		return "exit status unknown"
	}
	msg := fmt.Sprintf("exit code %d", res.ExitCode)
	if res.Signal != 0 {
		msg += fmt.Sprintf(", signal %d", res.Signal)
	}
	if res.Err != nil {
		msg += ": " + res.Err.Error()
	}
	return msg
}

// taskConfig prepares the task's directory, log files and environment.
func (t *taskRunner) taskConfig() (*driver.TaskConfig, error) {
	dir := filepath.Join(t.ar.dir, t.task.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create task dir: %w", err)
	}
	logs := filepath.Join(t.ar.dir, "alloc", "logs")
	cfg := &driver.TaskConfig{
		ID:          t.alloc.Id + "/" + t.task.Name,
		AllocID:     t.alloc.Id,
		JobID:       t.alloc.JobId,
		TaskGroup:   t.tg.Name,
		TaskName:    t.task.Name,
		Config:      t.task.GetConfig().AsMap(),
		Env:         t.env(dir),
		TaskDir:     dir,
		StdoutPath:  filepath.Join(logs, t.task.Name+".stdout.0"),
		StderrPath:  filepath.Join(logs, t.task.Name+".stderr.0"),
		Resources:   t.task.Resources,
		KillTimeout: t.task.GetKillTimeout().AsDuration(),
		KillSignal:  t.task.KillSignal,
	}
	if cfg.KillTimeout <= 0 {
		cfg.KillTimeout = structs.DefaultKillTimeout
	}
	return cfg, nil
}

// env is the task's environment: the job's variables and, under both
// drover's and Nomad's prefixes, where and what the task is.
func (t *taskRunner) env(taskDir string) map[string]string {
	node := t.ar.c.node
	facts := map[string]string{
		"ALLOC_ID":     t.alloc.Id,
		"ALLOC_NAME":   t.alloc.Name,
		"ALLOC_DIR":    filepath.Join(t.ar.dir, "alloc"),
		"TASK_DIR":     taskDir,
		"TASK_NAME":    t.task.Name,
		"GROUP_NAME":   t.tg.Name,
		"JOB_ID":       t.alloc.JobId,
		"JOB_NAME":     t.alloc.GetJob().GetName(),
		"NAMESPACE":    t.alloc.Namespace,
		"REGION":       t.ar.c.cfg.Region,
		"DC":           node.Datacenter,
		"NODE_ID":      node.Id,
		"NODE_NAME":    node.Name,
		"CPU_LIMIT":    strconv.FormatInt(t.task.GetResources().GetCpuMhz(), 10),
		"MEMORY_LIMIT": strconv.FormatInt(t.task.GetResources().GetMemoryMb(), 10),
	}
	env := make(map[string]string, 2*len(facts)+len(t.task.Env))
	for k, v := range facts {
		env["DROVER_"+k] = v
		env["NOMAD_"+k] = v
	}
	for k, v := range t.task.Env {
		env[k] = v
	}
	return env
}

package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/client/interpolate"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// maxTaskEvents bounds the events kept per task.
const maxTaskEvents = 10

// taskRunner drives one task through its driver: prestart hooks, start,
// wait, restart per policy, and stop when asked. Everything it does runs
// on its own goroutine (run), so its fields need no lock.
type taskRunner struct {
	ar       *allocRunner
	alloc    *structs.Allocation
	tg       *structs.TaskGroup
	task     *structs.Task
	drv      driver.Driver
	restarts *restartTracker
	log      *slog.Logger
	// paths are the task's directory and log files; pathErr says why the
	// task's name cannot give any.
	paths   taskPaths
	pathErr error

	st            *structs.TaskState
	handle        *driver.TaskHandle
	artifactsDone bool
	warned        map[string]bool
	// restored is what the local state held of the task before a client
	// restart; nil for a task new to this client.
	restored *taskRecord
	// ctl takes the operator's requests (restart, signal) while the task
	// runs; see lifecycle.go.
	ctl taskControl
	// restartCh asks for a restart (a check's check_restart), with why.
	restartCh chan string
	// vars are what the task's fields are interpolated with, as the
	// client sees its directories; set by the env hook at every start.
	vars interpolate.Vars
	// nodeVars are the node's variables for interpolation.
	nodeVars map[string]string
	// rendered is what each template last rendered; nil before the first
	// render.
	rendered [][]byte
	// restartWhy says why the next restart outside the policy happens;
	// "" for the operator's.
	restartWhy string
	// stopCh is closed to stop the task; the allocation's lifecycle
	// closes it (see task_order.go). gate, when not nil, is closed when
	// the task may start.
	stopCh   chan struct{}
	stopOnce sync.Once
	// stopEvent is the task event of the stop (set before stopCh closes).
	stopEvent string
	gate      chan struct{}
}

func newTaskRunner(ar *allocRunner, a *structs.Allocation, tg *structs.TaskGroup, t *structs.Task, restored *taskRecord) *taskRunner {
	tr := &taskRunner{
		ar: ar, alloc: a, tg: tg, task: t, drv: ar.c.drivers[t.Driver],
		restarts:  newRestartTracker(tg.RestartPolicy, a.GetJob().GetType()),
		log:       ar.c.logger.With("alloc", a.Id, "task", t.Name),
		st:        &structs.TaskState{State: structs.TaskStatePending},
		restored:  restored,
		warned:    map[string]bool{},
		restartCh: make(chan string, 1),
		stopCh:    make(chan struct{}),
		gate:      make(chan struct{}),
	}
	if ar.dirErr == nil {
		tr.paths, tr.pathErr = taskPathsFor(ar.dir, t.Name)
	} else {
		tr.pathErr = ar.dirErr
	}
	if restored != nil {
		st := &structs.TaskState{}
		if err := proto.Unmarshal(restored.State, st); err == nil && st.State != "" {
			tr.st = st
		}
		tr.handle = restored.Handle
		tr.artifactsDone = restored.ArtifactsDone
	} else {
		tr.event(structs.TaskEventReceived, "task received by client", nil)
	}
	return tr
}

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

// record is the task as the local state keeps it.
func (t *taskRunner) record() *taskRecord {
	data, _ := proto.Marshal(t.st)
	return &taskRecord{State: data, Handle: t.handle, ArtifactsDone: t.artifactsDone}
}

// publish persists the task and reports the allocation's new status.
func (t *taskRunner) publish() {
	t.ar.setTaskState(t.task.Name, proto.Clone(t.st).(*structs.TaskState), t.record())
}

func (t *taskRunner) finish(failed bool) {
	t.st.State = structs.TaskStateDead
	t.st.Failed = failed
	t.st.FinishedAt = time.Now().UnixNano()
	t.handle = nil
	t.publish()
}

// outcome is how one run of the task ended.
type outcome int

const (
	exited    outcome = iota // the task ended by itself (or failed to start)
	stopped                  // the servers, or a failed sibling, stopped it
	detached                 // the client is shutting down and left it running
	lost                     // a restored task could not be reattached
	restarted                // the operator restarted it: start it again at once
)

func (t *taskRunner) run(ctx context.Context) {
	if t.drv == nil {
		t.event(structs.TaskEventDriverFailure, fmt.Sprintf("driver %q is not available on this node", t.task.Driver), nil)
		t.ar.c.metrics.taskFailures.Inc()
		t.finish(true)
		return
	}
	if t.st.State == structs.TaskStateDead {
		return // finished before the client restarted
	}
	if t.pathErr != nil {
		// The same name can never give a safe directory: no restart.
		t.event(structs.TaskEventSetupFailure, "task directory refused: "+t.pathErr.Error(), nil)
		t.ar.c.metrics.taskFailures.Inc()
		t.finish(true)
		return
	}
	if (t.restored == nil || t.handle == nil) && !t.waitGate(ctx) {
		return
	}
	var res *driver.ExitResult
	if t.restored != nil && t.handle != nil {
		// A task that could not be reattached is started again without
		// counting against its restart policy: whether it failed is unknown.
		switch out, r := t.reattach(ctx); out {
		case stopped, detached:
			return
		case exited:
			res = r
		case restarted:
			res = restartNow
		}
	}
	for {
		if res == restartNow {
			t.userRestart()
		} else if res != nil {
			if !t.restartAfter(ctx, res) {
				return
			}
		}
		if t.stopping() {
			// Stopped before it (re)started: nothing to kill.
			t.finish(false)
			return
		}
		out, r := t.runOnce(ctx)
		switch out {
		case exited:
			res = r
		case restarted:
			res = restartNow
		default:
			return
		}
	}
}

// reattach recovers a task that was running when the client stopped and
// waits for it as if this client had started it.
func (t *taskRunner) reattach(ctx context.Context) (outcome, *driver.ExitResult) {
	cfg := t.config()
	if err := t.drv.RecoverTask(t.handle); err != nil {
		t.log.Info("task did not survive the client restart, starting it again", "error", err)
		t.event(structs.TaskEventRestoreFailed, "task could not be reattached after the client restarted: "+err.Error(), nil)
		t.handle = nil
		return lost, nil
	}
	t.ar.c.metrics.taskRecoveries.Inc()
	t.log.Info("reattached to running task", "pid", t.handle.PID)
	// Tell the servers again: what they last heard may predate the restart.
	t.st.State = structs.TaskStateRunning
	t.publish()
	return t.wait(ctx, cfg)
}

// runOnce prepares and starts the task, then waits for it.
func (t *taskRunner) runOnce(ctx context.Context) (outcome, *driver.ExitResult) {
	cfg := t.config()
	// A stop from the servers ends a long prestart (a download) too.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-t.stopCh:
			cancel()
		case <-hctx.Done():
		}
	}()
	for _, h := range prestartHooks {
		if err := h.prestart(hctx, t, cfg); err != nil {
			if ctx.Err() != nil {
				return detached, nil
			}
			if t.stopping() {
				t.finish(false)
				return stopped, nil
			}
			t.log.Warn("task setup failed", "hook", h.name(), "error", err)
			event := structs.TaskEventSetupFailure
			if he, ok := errors.AsType[*hookError](err); ok {
				event = he.event
			}
			t.event(event, err.Error(), nil)
			return exited, &driver.ExitResult{ExitCode: -1, Err: err}
		}
	}
	t.ar.setTaskEnv(t.task.Name, taskEnv{dir: cfg.TaskDir, env: cfg.Env})
	h, err := t.drv.StartTask(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return detached, nil
		}
		t.log.Warn("task failed to start", "error", err)
		t.event(structs.TaskEventDriverFailure, err.Error(), nil)
		if errors.Is(err, driver.ErrInvalidConfig) {
			// The same config can never start: no restart.
			t.ar.c.metrics.taskFailures.Inc()
			t.finish(true)
			return stopped, nil
		}
		return exited, &driver.ExitResult{ExitCode: -1, Err: err}
	}
	t.handle = h
	t.ar.c.metrics.taskStarts.Inc()
	t.st.State = structs.TaskStateRunning
	t.st.StartedAt = time.Now().UnixNano()
	t.event(structs.TaskEventStarted, "task started by client", nil)
	for _, w := range h.Warnings {
		if !t.warned[w] {
			// Said once per task, not at every restart.
			t.warned[w] = true
			t.event(structs.TaskEventDriverMessage, w, nil)
		}
	}
	t.publish()
	return t.wait(ctx, cfg)
}

// wait waits for the running task to exit, to be stopped, or for the
// client to shut down; it rotates the task's logs meanwhile.
func (t *taskRunner) wait(ctx context.Context, cfg *driver.TaskConfig) (outcome, *driver.ExitResult) {
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit, err := t.drv.WaitTask(wctx, cfg.ID)
	if err != nil {
		t.log.Warn("cannot wait on task, releasing it", "error", err)
		_ = t.drv.DestroyTask(cfg.ID, true)
		t.handle = nil
		return exited, &driver.ExitResult{ExitCode: -1, Err: err}
	}
	stopRotation := t.rotateLogs(cfg)
	defer stopRotation()
	ctlCh, closeCtl := t.ctl.open()
	defer closeCtl()
	tmplCh, stopTemplates := t.watchTemplates(cfg)
	defer stopTemplates()
	for {
		select {
		case c := <-tmplCh:
			if t.applyTemplateChange(cfg, c) {
				t.kill(cfg, exit)
				t.restartWhy = "task restarting: a template changed"
				return restarted, nil
			}
		case why := <-t.restartCh:
			// A failing check restarts the task; the restart policy counts it.
			t.event(structs.TaskEventRestartSignal, why, nil)
			t.kill(cfg, exit)
			return exited, &driver.ExitResult{ExitCode: -1, Err: errors.New(why)}
		case req := <-ctlCh:
			if req.signal != "" {
				t.signal(cfg, req)
				continue
			}
			t.event(structs.TaskEventRestartSignal, "User requested restart", nil)
			t.kill(cfg, exit)
			req.reply <- nil
			return restarted, nil
		case res, ok := <-exit:
			if !ok || res == nil {
				res = &driver.ExitResult{ExitCode: -1, Err: errors.New("exit status unknown")}
			}
			t.event(structs.TaskEventTerminated, exitMessage(res), res)
			if err := t.drv.DestroyTask(cfg.ID, true); err != nil && !errors.Is(err, driver.ErrTaskNotFound) {
				t.log.Warn("releasing task", "error", err)
			}
			t.handle = nil
			return exited, res
		case <-t.stopCh:
			if t.stopEvent == structs.TaskEventLeaderDead {
				t.event(structs.TaskEventLeaderDead, "leader task in the group is dead", nil)
			}
			if res, exited := t.shutdownDelay(exit); exited {
				t.event(structs.TaskEventTerminated, exitMessage(res), res)
				_ = t.drv.DestroyTask(cfg.ID, true)
				t.handle = nil
				t.finish(false)
				return stopped, nil
			}
			t.kill(cfg, exit)
			t.finish(false)
			return stopped, nil
		case <-ctx.Done():
			if t.ar.c.stopsOnShutdown(t.task.Driver) {
				// Tasks of this driver cannot outlive the client.
				t.kill(cfg, exit)
			}
			return detached, nil
		}
	}
}

// shutdownDelay waits the task's shutdown_delay before a stop kills it,
// unless the task exits first (then it reports so, with the exit).
func (t *taskRunner) shutdownDelay(exit <-chan *driver.ExitResult) (*driver.ExitResult, bool) {
	d := t.task.GetShutdownDelay().AsDuration()
	if d <= 0 {
		return nil, false
	}
	t.event(structs.TaskEventKilling, "waiting shutdown_delay "+d.String()+" before killing the task", nil)
	t.publish()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil, false
	case res := <-exit:
		return res, true
	}
}

// restartAfter applies the restart policy to an exit, waiting the delay.
// It reports whether to start the task again.
func (t *taskRunner) restartAfter(ctx context.Context, res *driver.ExitResult) bool {
	if res.Successful() && runsOnce(t.task) {
		// A lifecycle task that is no sidecar is done once it succeeds.
		t.finish(false)
		return false
	}
	d := t.restarts.next(time.Now(), res.Successful())
	if !d.restart {
		if res.Successful() {
			t.finish(false)
		} else {
			t.event(structs.TaskEventNotRestarting, d.reason, nil)
			t.ar.c.metrics.taskFailures.Inc()
			t.finish(true)
		}
		return false
	}
	t.st.Restarts++
	t.ar.c.metrics.taskRestarts.Inc()
	t.event(structs.TaskEventRestarting, fmt.Sprintf("task restarting in %s", d.wait), nil)
	t.st.State = structs.TaskStatePending
	t.publish()
	timer := time.NewTimer(d.wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.stopCh:
		t.finish(false)
		return false
	case <-ctx.Done():
		return false
	}
}

// rotateLogs keeps the task's log files under their limits until the
// returned function is called.
func (t *taskRunner) rotateLogs(cfg *driver.TaskConfig) func() {
	maxFiles := int(t.task.GetLogs().GetMaxFiles())
	maxBytes := int64(t.task.GetLogs().GetMaxFileSizeMb()) << 20
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, p := range []string{cfg.StdoutPath, cfg.StderrPath} {
		r := driver.NewLogRotator(p, maxFiles, maxBytes)
		// Readers following the log learn of each rotation.
		w := t.ar.c.logs.acquire(p, r.MaxFiles)
		r.Rotation = w.rotation
		go func() {
			defer t.ar.c.logs.release(w)
			defer func() { done <- struct{}{} }()
			r.Run(ctx, t.ar.c.cfg.LogCheckInterval, func(err error) { t.log.Warn("rotating task log", "error", err) })
		}()
	}
	return func() {
		cancel()
		<-done
		<-done
	}
}

// kill stops a running task within its kill timeout and releases it.
func (t *taskRunner) kill(cfg *driver.TaskConfig, exit <-chan *driver.ExitResult) {
	t.event(structs.TaskEventKilling, "sent interrupt, waiting "+cfg.KillTimeout.String()+" before force kill", nil)
	kctx, cancel := context.WithTimeout(context.Background(), cfg.KillTimeout+5*time.Second)
	defer cancel()
	if err := t.drv.StopTask(kctx, cfg.ID, cfg.KillTimeout, cfg.KillSignal); err != nil {
		t.log.Warn("stopping task", "error", err)
	}
	select {
	case res := <-exit:
		t.event(structs.TaskEventKilled, "task successfully killed", res)
	case <-kctx.Done():
		t.event(structs.TaskEventKilled, "task did not confirm its exit", nil)
	}
	if err := t.drv.DestroyTask(cfg.ID, true); err != nil && !errors.Is(err, driver.ErrTaskNotFound) {
		t.log.Warn("releasing task", "error", err)
	}
	t.handle = nil
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

// stopping reports whether the allocation's tasks are being stopped.
func (t *taskRunner) stopping() bool {
	select {
	case <-t.stopCh:
		return true
	default:
		return false
	}
}

// config is the task's driver config, without its environment (the env
// hook sets it).
func (t *taskRunner) config() *driver.TaskConfig {
	cfg := &driver.TaskConfig{
		ID:          t.alloc.Id + "/" + t.task.Name,
		AllocID:     t.alloc.Id,
		JobID:       t.alloc.JobId,
		TaskGroup:   t.tg.Name,
		TaskName:    t.task.Name,
		Config:      t.task.GetConfig().AsMap(),
		TaskDir:     t.paths.dir,
		AllocDir:    filepath.Join(t.ar.dir, "alloc"),
		User:        t.task.User,
		StdoutPath:  t.paths.stdout,
		StderrPath:  t.paths.stderr,
		Resources:   t.task.Resources,
		KillTimeout: t.task.GetKillTimeout().AsDuration(),
		KillSignal:  t.task.KillSignal,
	}
	if cfg.KillTimeout <= 0 {
		cfg.KillTimeout = structs.DefaultKillTimeout
	}
	return cfg
}

// requestRestart asks the task's runner to restart the task, unless a
// restart is asked already.
func (t *taskRunner) requestRestart(why string) {
	select {
	case t.restartCh <- why:
	default:
	}
}

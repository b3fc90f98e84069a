package docker

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/droverhq/drover/driver"
)

// logDrainWait bounds how long an exit waits for the container's last
// log lines to be copied.
const logDrainWait = 5 * time.Second

// task is one container the driver started or reattached to.
type task struct {
	d           *Driver
	id          string
	containerID string
	imageID     string
	state       *handleState
	// stopSignal is the image's stop signal, if it has one.
	stopSignal string
	exit       *driver.Exit
	// lastSignal is the last signal a stop sent, to tell an exit caused
	// by it (128+signal) as a signal.
	lastSignal atomic.Int32

	// ctx ends the task's goroutines (watching, copying logs).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// logsDone is closed once the copy of the logs ended.
	logsDone chan struct{}
}

func (d *Driver) newTask(id string, st *handleState) *task {
	ctx, cancel := context.WithCancel(context.Background())
	return &task{
		d: d, id: id, containerID: st.ContainerID, imageID: st.ImageID, state: st,
		exit: driver.NewExit(), ctx: ctx, cancel: cancel, logsDone: make(chan struct{}),
	}
}

// startLogs copies the container's logs written after since (all, if
// zero) to the task's files until the container stops.
func (t *task) startLogs(since time.Time) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer close(t.logsDone)
		t.d.copyLogs(t.ctx, t.containerID, t.state, since)
	}()
}

// watch waits for the container to stop and records its exit. While the
// engine does not answer, it keeps trying: the container may well still
// run.
func (t *task) watch() {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			res, retry := t.waitOnce()
			if res != nil {
				// Deliver the exit once the last lines are in the log files.
				timer := time.NewTimer(logDrainWait)
				select {
				case <-t.logsDone:
				case <-timer.C:
				case <-t.ctx.Done():
				}
				timer.Stop()
				t.exit.Set(res)
				return
			}
			if !retry {
				return
			}
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
}

// waitOnce waits for the container to stop: it returns the exit, or
// whether to try again (the engine did not answer).
func (t *task) waitOnce() (*driver.ExitResult, bool) {
	wr := t.d.engine.ContainerWait(t.ctx, t.containerID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var code int64
	select {
	case r := <-wr.Result:
		code = r.StatusCode
	case err := <-wr.Error:
		if t.ctx.Err() != nil {
			return nil, false
		}
		if cerrdefs.IsNotFound(err) {
			return &driver.ExitResult{ExitCode: -1, Err: errContainerGone}, false
		}
		t.d.logger.Warn("waiting for container, retrying", "task", t.id, "error", err)
		return nil, true
	case <-t.ctx.Done():
		return nil, false
	}
	res := &driver.ExitResult{ExitCode: int(code)}
	ctx, cancel := context.WithTimeout(t.ctx, engineTimeout)
	defer cancel()
	if c, err := t.d.engine.ContainerInspect(ctx, t.containerID, client.ContainerInspectOptions{}); err == nil && c.Container.State != nil {
		res.ExitCode = c.Container.State.ExitCode
		if c.Container.State.OOMKilled {
			res.Err = driver.ErrOOMKilled
		}
	}
	if sig := int(t.lastSignal.Load()); sig != 0 && res.ExitCode == 128+sig {
		res.Signal = sig
	}
	return res, false
}

// kill sends sig to the container; one that is not running or gone is
// not an error.
func (t *task) kill(ctx context.Context, sig int) error {
	t.lastSignal.Store(int32(sig))
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	_, err := t.d.engine.ContainerKill(ctx, t.containerID, client.ContainerKillOptions{Signal: strconv.Itoa(sig)})
	if err != nil && !isGone(err) {
		return err
	}
	return nil
}

// detach ends the task's goroutines, leaving the container as it is.
func (t *task) detach() {
	t.cancel()
	t.wg.Wait()
}

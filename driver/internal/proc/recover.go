//go:build unix

package proc

import (
	"encoding/json"
	"time"

	"golang.org/x/sys/unix"

	"github.com/droverhq/drover/driver"
)

// RecoverTask implements driver.Driver. After a client restart the process
// is no longer the client's child, so it is watched by polling its pid
// every PollInterval, and its exit is reported with ExitCode -1 and
// ErrExitStatusUnknown. A pid that now names another process (its start
// time differs from the one recorded in the handle) is not adopted.
// Recovering a task the driver already holds is a no-op.
func (d *Driver) RecoverTask(h *driver.TaskHandle) error {
	if h == nil || h.ID == "" {
		return d.errorf("empty handle: %w", driver.ErrTaskNotFound)
	}
	if h.Driver != "" && h.Driver != d.name {
		return d.errorf("handle of %s is for driver %q: %w", h.ID, h.Driver, driver.ErrTaskNotFound)
	}
	if h.PID <= 1 {
		return d.errorf("handle of %s has no usable pid (%d): %w", h.ID, h.PID, driver.ErrTaskNotFound)
	}
	var st handleState
	if len(h.State) > 0 {
		if err := json.Unmarshal(h.State, &st); err != nil {
			return d.errorf("handle state of %s: %v: %w", h.ID, err, driver.ErrTaskNotFound)
		}
	}
	if knowsStartTimes && st.StartTime == 0 {
		return d.errorf("handle of %s records no start time to check pid %d against: %w",
			h.ID, h.PID, driver.ErrTaskNotFound)
	}

	if !d.tasks.Reserve(h.ID) {
		// Already held (or being started): nothing to recover.
		return nil
	}
	info, err := lookupProcess(h.PID)
	if err != nil || info.zombie || (st.StartTime != 0 && info.startTime != st.StartTime) {
		d.tasks.Release(h.ID)
		return d.errorf("process %d of %s is gone or was replaced: %w", h.PID, h.ID, driver.ErrTaskNotFound)
	}
	pgid := info.pgid
	if st.PGID != 0 && pgid != st.PGID {
		d.logger.Warn("reattached process changed its process group", "task", h.ID, "pid", h.PID,
			"recorded", st.PGID, "actual", pgid)
	}
	if own, err := unix.Getpgid(0); pgid <= 1 || err != nil || pgid == own {
		// Never signal a group this process belongs to: only the pid.
		pgid = 0
	}
	var confined Confinement
	if d.isolation != nil && len(st.Confinement) > 0 {
		if confined, err = d.isolation.Reopen(st.Confinement); err != nil {
			d.logger.Warn("reattached process without its confinement", "task", h.ID, "pid", h.PID, "error", err)
			confined = nil
		}
	}
	t := &task{
		id: h.ID, pid: h.PID, pgid: pgid, startTime: st.StartTime, reattached: true, confined: confined,
		exit: driver.NewExit(), stopPoll: make(chan struct{}),
	}
	d.tasks.Fill(h.ID, t)
	interval := d.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	go t.watch(interval)
	d.logger.Debug("task reattached", "task", h.ID, "pid", h.PID)
	return nil
}

// watch polls a reattached process until it is gone or the watch is
// stopped, then records an exit of unknown status.
func (t *task) watch(interval time.Duration) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	defer t.exit.Set(&driver.ExitResult{ExitCode: -1, Err: ErrExitStatusUnknown})
	for {
		select {
		case <-t.stopPoll:
			return
		case <-tk.C:
			if !sameProcess(t.pid, t.startTime) {
				return
			}
		}
	}
}

// sameProcess reports whether pid names a live (not zombie) process that,
// when startTime is known, started then.
func sameProcess(pid int, startTime uint64) bool {
	info, err := lookupProcess(pid)
	if err != nil || info.zombie {
		return false
	}
	return startTime == 0 || info.startTime == startTime
}

package proc

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/droverhq/drover/driver"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc's cpu times.
const clockTicks = 100

// usageSample is a task's previous cpu measurement.
type usageSample struct {
	mu  sync.Mutex
	cpu float64
	at  time.Time
}

// procLister is a Confinement that knows the processes it holds.
type procLister interface {
	Procs() ([]int, error)
}

// TaskStats implements driver.StatsDriver from /proc: the task's
// processes are those of its process group and of its confinement; memory
// is the sum of their resident sets, cpu the sum of their times.
func (d *Driver) TaskStats(_ context.Context, taskID string) (*driver.TaskUsage, error) {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return nil, err
	}
	if t.exit.Result() != nil {
		return nil, d.errorf("task %s has exited: %w", taskID, driver.ErrTaskNotFound)
	}
	pids := map[int]bool{t.pid: true}
	if t.pgid > 1 {
		for _, p := range groupMembers(t.pgid) {
			pids[p] = true
		}
	}
	if l, ok := t.confined.(procLister); ok {
		if ps, err := l.Procs(); err == nil {
			for _, p := range ps {
				pids[p] = true
			}
		}
	}
	now := time.Now()
	u := &driver.TaskUsage{
		Timestamp: now, MemoryMeasured: []string{"RSS"}, CPUMeasured: []string{"System Mode", "User Mode", "Percent"},
	}
	page := uint64(os.Getpagesize())
	for pid := range pids {
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		u.Pids = append(u.Pids, pid)
		u.RSS += st.rss * page
		u.UserSeconds += float64(st.utime) / clockTicks
		u.SystemSeconds += float64(st.stime) / clockTicks
	}
	slices.Sort(u.Pids)
	u.Usage = u.RSS
	cpu := u.UserSeconds + u.SystemSeconds
	t.usage.mu.Lock()
	defer t.usage.mu.Unlock()
	prevCPU, prevAt := t.usage.cpu, t.usage.at
	if prevAt.IsZero() {
		// The first measurement: the average since the task started.
		prevCPU, prevAt = 0, processStart(t.pid, now)
	}
	if wall := now.Sub(prevAt).Seconds(); wall > 0 {
		u.Percent = max(cpu-prevCPU, 0) / wall * 100
	}
	t.usage.cpu, t.usage.at = cpu, now
	return u, nil
}

// procStat is what /proc/<pid>/stat says of a process's usage.
type procStat struct {
	pgrp         int
	utime, stime uint64
	start        uint64
	rss          uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errProcessGone
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return procStat{}, errProcessGone
	}
	// Fields are numbered from 1 with the pid; f[0] is field 3 (state).
	num := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	return procStat{pgrp: int(num(5)), utime: num(14), stime: num(15), start: num(22), rss: num(24)}, nil
}

// groupMembers lists the live processes of a process group.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.pgrp == pgid {
			out = append(out, pid)
		}
	}
	return out
}

// processStart is when pid started, from its start time after boot; now
// when it cannot be read.
func processStart(pid int, now time.Time) time.Time {
	st, err := readStat(pid)
	if err != nil {
		return now
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return now
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return now
			}
			return time.Unix(boot, 0).Add(time.Duration(st.start) * time.Second / clockTicks)
		}
	}
	return now
}

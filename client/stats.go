package client

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// Resource usage, as Nomad's /v1/client/allocation/:id/stats and
// /v1/client/stats report it: a task's from its driver (raw_exec and exec
// measure their processes through /proc), the host's from /proc and the
// data dir's file system.

// allocStats measures the running tasks of an allocation (one task when
// task is set) and sums them.
func (c *Client) allocStats(ctx context.Context, allocID, task string) (*structs.AllocResourceUsage, error) {
	r, err := c.allocRunner(allocID)
	if err != nil {
		return nil, err
	}
	runners := r.taskRunners()
	if task != "" {
		tr, err := r.task(task)
		if err != nil {
			return nil, err
		}
		runners = map[string]*taskRunner{task: tr}
	}
	now := c.clock.Now()
	out := &structs.AllocResourceUsage{Usage: emptyUsage(), Tasks: map[string]*structs.TaskResourceUsage{}, Timestamp: now.UnixNano()}
	mhz := c.mhzPerCore()
	for name, tr := range runners {
		tu := c.taskStats(ctx, tr, mhz)
		out.Tasks[name] = tu
		m, cpu := out.Usage.Memory, out.Usage.Cpu
		m.Rss += tu.Usage.Memory.Rss
		m.Usage += tu.Usage.Memory.Usage
		m.MaxUsage += tu.Usage.Memory.MaxUsage
		cpu.UserMode += tu.Usage.Cpu.UserMode
		cpu.SystemMode += tu.Usage.Cpu.SystemMode
		cpu.Percent += tu.Usage.Cpu.Percent
		cpu.TotalTicks += tu.Usage.Cpu.TotalTicks
		m.Measured, cpu.Measured = tu.Usage.Memory.Measured, tu.Usage.Cpu.Measured
	}
	return out, nil
}

func emptyUsage() *structs.ResourceUsage {
	return &structs.ResourceUsage{Memory: &structs.MemoryStats{}, Cpu: &structs.CpuStats{}}
}

// taskStats measures one task; a task that is not running, or whose
// driver cannot measure it, reports zeros and a note saying why.
func (c *Client) taskStats(ctx context.Context, tr *taskRunner, mhz float64) *structs.TaskResourceUsage {
	tu := &structs.TaskResourceUsage{Usage: emptyUsage(), Timestamp: c.clock.Now().UnixNano()}
	sd, ok := tr.drv.(driver.StatsDriver)
	switch {
	case !tr.ctl.running():
		tu.Note = "the task is not running"
		return tu
	case tr.task.Driver == "fn":
		tu.Note = "fn tasks run inside the client's own process, whose share they take cannot be measured: zeros are reported"
		return tu
	case !ok:
		tu.Note = fmt.Sprintf("the %s driver cannot measure its tasks: zeros are reported", tr.task.Driver)
		return tu
	}
	u, err := sd.TaskStats(ctx, tr.alloc.Id+"/"+tr.task.Name)
	if err != nil {
		tu.Note = "the task could not be measured: " + err.Error()
		return tu
	}
	tu.Timestamp = u.Timestamp.UnixNano()
	tu.Usage = &structs.ResourceUsage{
		Memory: &structs.MemoryStats{
			Rss: u.RSS, Cache: u.Cache, Swap: u.Swap, Usage: u.Usage, MaxUsage: u.MaxUsage, Measured: u.MemoryMeasured,
		},
		Cpu: &structs.CpuStats{
			UserMode: u.UserSeconds, SystemMode: u.SystemSeconds, Percent: u.Percent,
			TotalTicks: u.Percent / 100 * mhz, ThrottledPeriods: u.ThrottledPeriods, ThrottledTime: u.ThrottledTime,
			Measured: u.CPUMeasured,
		},
	}
	tu.Pids = map[string]*structs.ResourceUsage{}
	for _, pid := range u.Pids {
		tu.Pids[strconv.Itoa(pid)] = &structs.ResourceUsage{}
	}
	return tu
}

// mhzPerCore is one core's speed, from the fingerprint.
func (c *Client) mhzPerCore() float64 {
	attrs := c.nodeCopy().Attributes
	if mhz, err := strconv.ParseFloat(attrs["cpu.frequency"], 64); err == nil && mhz > 0 {
		return mhz
	}
	total, err1 := strconv.ParseFloat(attrs["cpu.totalcompute"], 64)
	cores, err2 := strconv.ParseFloat(attrs["cpu.numcores"], 64)
	if err1 == nil && err2 == nil && cores > 0 {
		return total / cores
	}
	return 0
}

// hostCPUSample is the previous reading of /proc/stat, for percentages.
type hostCPUSample struct {
	mu   sync.Mutex
	prev map[string][4]float64
}

// hostStats measures the host: memory, cpu per core (since the previous
// call; since boot for the first), the data dir's disk and uptime.
func (c *Client) hostStats() (*structs.HostStats, error) {
	st := &structs.HostStats{Timestamp: c.clock.Now().UnixNano(), Memory: &structs.HostMemoryStats{}}
	if mem, err := readKV("/proc/meminfo"); err == nil {
		st.Memory.Total, st.Memory.Available, st.Memory.Free = mem["MemTotal"]*1024, mem["MemAvailable"]*1024, mem["MemFree"]*1024
		st.Memory.Used = st.Memory.Total - min(st.Memory.Available, st.Memory.Total)
	}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			up, _ := strconv.ParseFloat(f[0], 64)
			st.Uptime = uint64(up)
		}
	}
	st.Cpu = c.hostCPU.read()
	mhz := c.mhzPerCore()
	for _, cpu := range st.Cpu {
		st.CpuTicksConsumed += (100 - cpu.Idle) / 100 * mhz
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(c.cfg.DataDir, &fs); err == nil {
		size := fs.Blocks * uint64(fs.Bsize)
		avail := fs.Bavail * uint64(fs.Bsize)
		used := size - fs.Bfree*uint64(fs.Bsize)
		d := &structs.HostDiskStats{Device: c.cfg.DataDir, Mountpoint: c.cfg.DataDir, Size: size, Used: used, Available: avail}
		if size > 0 {
			d.UsedPercent = float64(used) / float64(size) * 100
		}
		if fs.Files > 0 {
			d.InodesUsedPercent = float64(fs.Files-fs.Ffree) / float64(fs.Files) * 100
		}
		st.AllocDirStats = d
		st.DiskStats = []*structs.HostDiskStats{d}
	}
	return st, nil
}

// readKV reads a "Key: value kB" file such as /proc/meminfo.
func readKV(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if f := strings.Fields(v); len(f) > 0 {
			n, _ := strconv.ParseUint(f[0], 10, 64)
			out[k] = n
		}
	}
	return out, nil
}

// read returns each core's user, system and idle percentages since the
// previous read.
func (s *hostCPUSample) read() []*structs.HostCPUStats {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prev == nil {
		s.prev = map[string][4]float64{}
	}
	var out []*structs.HostCPUStats
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var v [8]float64
		for i := 1; i < len(f) && i <= 8; i++ {
			v[i-1], _ = strconv.ParseFloat(f[i], 64)
		}
		// user+nice, system+irq+softirq, idle+iowait, total
		cur := [4]float64{v[0] + v[1], v[2] + v[5] + v[6], v[3] + v[4], 0}
		cur[3] = cur[0] + cur[1] + cur[2] + v[7]
		prev := s.prev[f[0]]
		s.prev[f[0]] = cur
		total := cur[3] - prev[3]
		st := &structs.HostCPUStats{Cpu: f[0], Idle: 100}
		if total > 0 {
			st.User = (cur[0] - prev[0]) / total * 100
			st.System = (cur[1] - prev[1]) / total * 100
			st.Idle = (cur[2] - prev[2]) / total * 100
		}
		out = append(out, st)
	}
	return out
}

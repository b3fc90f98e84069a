package api

import (
	"net/http"

	"github.com/droverhq/drover/structs"
)

// Resource usage in the shapes of Nomad's client API.

type memoryStatsJSON struct {
	RSS, Cache, Swap, Usage, MaxUsage, KernelUsage, KernelMaxUsage uint64
	Measured                                                       []string
}

type cpuStatsJSON struct {
	SystemMode, UserMode, TotalTicks float64
	ThrottledPeriods, ThrottledTime  uint64
	Percent                          float64
	Measured                         []string
}

type resourceUsageJSON struct {
	MemoryStats *memoryStatsJSON
	CpuStats    *cpuStatsJSON
	DeviceStats []any
}

type taskResourceUsageJSON struct {
	ResourceUsage *resourceUsageJSON
	Timestamp     int64
	Pids          map[string]*resourceUsageJSON
	// Note says what could not be measured (drover's own field).
	Note string `json:",omitempty"`
}

type allocResourceUsageJSON struct {
	ResourceUsage *resourceUsageJSON
	Tasks         map[string]*taskResourceUsageJSON
	Timestamp     int64
}

func usageToJSON(u *structs.ResourceUsage) *resourceUsageJSON {
	m, c := u.GetMemory(), u.GetCpu()
	return &resourceUsageJSON{
		MemoryStats: &memoryStatsJSON{
			RSS: m.GetRss(), Cache: m.GetCache(), Swap: m.GetSwap(), Usage: m.GetUsage(), MaxUsage: m.GetMaxUsage(),
			Measured: nonNil(m.GetMeasured()),
		},
		CpuStats: &cpuStatsJSON{
			SystemMode: c.GetSystemMode(), UserMode: c.GetUserMode(), TotalTicks: c.GetTotalTicks(),
			ThrottledPeriods: c.GetThrottledPeriods(), ThrottledTime: c.GetThrottledTime(), Percent: c.GetPercent(),
			Measured: nonNil(c.GetMeasured()),
		},
		DeviceStats: []any{},
	}
}

func (c *clientRoutes) allocStats(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	u, err := c.b.AllocStats(r.Context(), params[0], r.URL.Query().Get("task"))
	if err != nil {
		return err
	}
	out := &allocResourceUsageJSON{ResourceUsage: usageToJSON(u.Usage), Tasks: map[string]*taskResourceUsageJSON{}, Timestamp: u.Timestamp}
	for name, t := range u.Tasks {
		tj := &taskResourceUsageJSON{ResourceUsage: usageToJSON(t.Usage), Timestamp: t.Timestamp, Note: t.Note,
			Pids: map[string]*resourceUsageJSON{}}
		for pid, pu := range t.Pids {
			tj.Pids[pid] = usageToJSON(pu)
		}
		out.Tasks[name] = tj
	}
	return c.writeRead(w, out)
}

type hostDiskStatsJSON struct {
	Device, Mountpoint             string
	Size, Used, Available          uint64
	UsedPercent, InodesUsedPercent float64
}

func diskToJSON(d *structs.HostDiskStats) *hostDiskStatsJSON {
	if d == nil {
		return nil
	}
	return &hostDiskStatsJSON{
		Device: d.Device, Mountpoint: d.Mountpoint, Size: d.Size, Used: d.Used, Available: d.Available,
		UsedPercent: d.UsedPercent, InodesUsedPercent: d.InodesUsedPercent,
	}
}

func (c *clientRoutes) nodeStats(w http.ResponseWriter, r *http.Request, _ []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	st, err := c.b.NodeStats(r.Context(), r.URL.Query().Get("node_id"))
	if err != nil {
		return err
	}
	type memJSON struct{ Total, Available, Used, Free uint64 }
	type cpuJSON struct {
		CPU                string
		User, System, Idle float64
	}
	out := struct {
		Memory           *memJSON
		CPU              []cpuJSON
		DiskStats        []*hostDiskStatsJSON
		AllocDirStats    *hostDiskStatsJSON
		DeviceStats      []any
		Uptime           uint64
		Timestamp        int64
		CPUTicksConsumed float64
	}{
		Memory: &memJSON{Total: st.GetMemory().GetTotal(), Available: st.GetMemory().GetAvailable(),
			Used: st.GetMemory().GetUsed(), Free: st.GetMemory().GetFree()},
		CPU: []cpuJSON{}, DiskStats: []*hostDiskStatsJSON{}, AllocDirStats: diskToJSON(st.AllocDirStats),
		DeviceStats: []any{}, Uptime: st.Uptime, Timestamp: st.Timestamp, CPUTicksConsumed: st.CpuTicksConsumed,
	}
	for _, cpu := range st.Cpu {
		out.CPU = append(out.CPU, cpuJSON{CPU: cpu.Cpu, User: cpu.User, System: cpu.System, Idle: cpu.Idle})
	}
	for _, d := range st.DiskStats {
		out.DiskStats = append(out.DiskStats, diskToJSON(d))
	}
	return c.writeRead(w, out)
}

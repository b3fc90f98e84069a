package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/structs"
)

// run starts the cluster and the fleet, runs the scenario and measures it.
func run(ctx context.Context, cfg config) (*result, error) {
	switch cfg.jobType {
	case structs.JobTypeService, structs.JobTypeBatch, structs.JobTypeSystem:
	default:
		return nil, fmt.Errorf("-type must be service, batch or system, not %q", cfg.jobType)
	}
	if cfg.servers < 1 || cfg.nodes < 1 || cfg.jobs < 0 || cfg.count < 1 {
		return nil, errors.New("-servers, -nodes and -count must be at least 1, -jobs at least 0")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "drover-cluster-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	res := &result{Servers: cfg.servers, Nodes: cfg.nodes, Jobs: cfg.jobs, Count: cfg.count, Type: cfg.jobType,
		KillLeaderAt: cfg.killLeaderAt, GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), LoadAvg: loadAvg()}
	total := cfg.jobs * cfg.count
	if cfg.jobType == structs.JobTypeSystem {
		total = cfg.jobs * cfg.nodes
	}
	res.Allocs = total

	prof := cpuByLabel{file: cfg.cpuProfile}
	if err := prof.start(); err != nil {
		return nil, err
	}
	defer prof.stop("server")
	cpuStart := processCPU()
	wallStart := time.Now()

	sched := cfg.schedulers
	if sched == 0 {
		sched = runtime.NumCPU()
	}
	c, err := startCluster(ctx, cfg.servers, dir, sched, cfg.leaderOnlySchedulers, cfg.heartbeatRate, cfg.logger())
	if err != nil {
		return nil, err
	}
	defer c.shutdown()
	if _, err := c.waitLeader(ctx); err != nil {
		return nil, err
	}
	if cfg.leaderOnlySchedulers {
		if err := c.lead(ctx, c.members[0]); err != nil {
			return nil, err
		}
	}
	res.ClusterStartSeconds = time.Since(wallStart).Seconds()

	var addrs []string
	for _, m := range c.members {
		addrs = append(addrs, m.addr)
	}
	f, err := newFleet(addrs, cfg.conns, cfg.nodes, cfg.batch, func(i int) bool { return !c.members[i].killed })
	if err != nil {
		return nil, err
	}
	fctx, stopFleet := context.WithCancel(ctx)
	defer func() {
		stopFleet()
		f.stop()
	}()
	capacity := 16
	if cfg.jobType != structs.JobTypeSystem {
		capacity = max(capacity, int(math.Ceil(float64(total)/float64(cfg.nodes)*1.5)))
	} else {
		capacity = max(capacity, cfg.jobs+1)
	}
	regStart := time.Now()
	if err := f.register(fctx, capacity); err != nil {
		return res, err
	}
	res.RegisterSeconds = time.Since(regStart).Seconds()
	f.watchAll(fctx)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	leader := c.leader()
	if leader == nil {
		if leader, err = c.waitLeader(ctx); err != nil {
			return res, err
		}
	}
	indexStart := leader.srv.StateIndex()
	entriesStart, bytesStart := raftCounters(c)

	start := time.Now()
	var submitted atomic.Int64
	submitErr := make(chan error, 1)
	go func() { submitErr <- submitJobs(ctx, c, cfg, &submitted) }()

	var peakRSS uint64
	killed := false
	lastLine := time.Now()
	var lastPlaced int
	var placedAt, runningAt time.Duration
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			res.Error = fmt.Sprintf("timed out after %s: %v", cfg.timeout, ctx.Err())
		case err := <-submitErr:
			if err != nil {
				return res, err
			}
			submitErr = nil
			continue
		case <-tick.C:
		}
		if res.Error != "" {
			break
		}
		placed, running := summaries(ctx, c)
		peakRSS = max(peakRSS, rss())
		elapsed := time.Since(start)
		if placedAt == 0 && total > 0 && placed >= total {
			placedAt = elapsed
		}
		if runningAt == 0 && total > 0 && running >= total {
			runningAt = elapsed
		}
		if cfg.killLeaderAt > 0 && !killed && total > 0 && float64(placed) >= cfg.killLeaderAt*float64(total) {
			killed = true
			if l := c.leader(); l != nil {
				res.KilledLeader = l.name
				res.KilledAtPlaced = placed
				res.KillShutdownSeconds = c.kill(l).Seconds()
				t0 := time.Now()
				nl, err := c.waitLeader(ctx)
				if err != nil {
					return res, err
				}
				res.FailoverSeconds = time.Since(t0).Seconds()
				fmt.Printf("killed leader %s at %d placed; shutdown took %.2fs; %s leads after %.2fs\n",
					l.name, placed, res.KillShutdownSeconds, nl.name, res.FailoverSeconds)
			}
		}
		if time.Since(lastLine) >= cfg.progress {
			rate := float64(placed-lastPlaced) / time.Since(lastLine).Seconds()
			fmt.Printf("%6.1fs placed %d/%d running %d (clients acked %d) rate %.0f/s rss %s heartbeats %d polls %d blocked evals %.0f\n",
				elapsed.Seconds(), placed, total, running, f.running.Load(), rate, mib(rss()), f.hbs.Load(), f.polls.Load(),
				counterSum(c, "drover_server_broker_blocked_evals"))
			lastLine, lastPlaced = time.Now(), placed
		}
		done := total == 0 || (placedAt > 0 && runningAt > 0)
		if done && elapsed >= cfg.duration {
			break
		}
	}
	res.PlacedSeconds = placedAt.Seconds()
	res.RunningSeconds = runningAt.Seconds()
	res.WallSeconds = time.Since(start).Seconds()
	res.PeakRSSBytes = max(peakRSS, peakRSSHWM())

	// The figures of the run, read before the fleet stops.
	res.Heartbeats, res.HeartbeatFailures, res.Registrations = f.hbs.Load(), f.hbFail.Load(), f.reRegs.Load()
	res.UpdateCalls, res.Polls, res.ClientsSawAllocs, res.ClientsRunning = f.calls.Load(), f.polls.Load(), f.seen.Load(), f.running.Load()
	n, lo, mean, hi := f.ttl.snapshot()
	res.TTLsHandedOut, res.TTLMinSeconds, res.TTLMeanSeconds, res.TTLMaxSeconds = n, lo.Seconds(), mean.Seconds(), hi.Seconds()
	if l := c.leader(); l != nil {
		res.RaftEntries = int64(l.srv.StateIndex() - indexStart)
	}
	entries, bytes := raftCounters(c)
	res.RaftEntriesApplied, res.RaftBytes = entries-entriesStart, bytes-bytesStart
	if res.RaftEntries == 0 {
		res.RaftEntries = res.RaftEntriesApplied
	}
	res.LeaderChanges = int64(counterMax(c, "drover_raft_leader_changes_total"))
	res.PlansRejected = int64(counterSum(c, "drover_server_plans_rejected_total"))
	res.PlanNodesRejected = int64(counterSum(c, "drover_server_plan_nodes_rejected_total"))
	if n, sum := histogramSum(c, "drover_scheduler_eval_seconds"); n > 0 {
		res.Evals, res.EvalSecondsMean = int64(n), sum/n
	}
	res.NodesMarkedDown = int(counterSum(c, "drover_server_nodes_marked_down_total") + counterSum(c, "drover_server_nodes_marked_disconnected_total"))
	if err := check(ctx, c, cfg, res); err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if total > 0 {
		res.HeapBytesPerAlloc = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(total)
	}
	res.HeapBytes = after.HeapAlloc
	if cfg.memProfile != "" {
		if err := writeHeapProfile(cfg.memProfile); err != nil {
			return res, err
		}
	}
	res.ProcessCPUSeconds = processCPU() - cpuStart
	res.LoadAvgEnd = loadAvg()
	stopFleet()
	f.stop()
	byServer, err := prof.stop("server")
	if err == nil {
		res.ServerCPUSeconds = byServer
		if l := c.leader(); l != nil {
			res.LeaderCPUSeconds = byServer[l.name]
			res.Leader = l.name
		}
		// The profile covers the whole run, registrations included.
		res.LeaderCPUShare = res.LeaderCPUSeconds / time.Since(wallStart).Seconds()
	}
	if res.Error != "" {
		return res, errors.New(res.Error)
	}
	return res, nil
}

// submitJobs registers the jobs through the servers, 16 at a time, each
// call retried on another server while there is no leader.
func submitJobs(ctx context.Context, c *cluster, cfg config, submitted *atomic.Int64) error {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var first atomic.Value
	for j := range cfg.jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			job := benchJob(fmt.Sprintf("bench-%05d", j), cfg.jobType, int32(cfg.count))
			for attempt := 0; ; attempt++ {
				run := c.running()
				if len(run) == 0 {
					first.CompareAndSwap(nil, errors.New("no server runs"))
					return
				}
				_, err := run[(j+attempt)%len(run)].srv.RegisterJob(ctx, job)
				if err == nil {
					submitted.Add(1)
					return
				}
				if ctx.Err() != nil || attempt > 50 {
					first.CompareAndSwap(nil, fmt.Errorf("register %s: %w", job.Id, err))
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return nil
}

// benchJob is a job of one group of count tasks of 100 MHz / 64 MB.
func benchJob(id, jobType string, count int32) *structs.Job {
	return &structs.Job{
		Id: id, Type: jobType, TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count,
			Constraints: []*structs.Constraint{{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"}},
			Tasks:       []*structs.Task{{Name: "t", Driver: "mock", Resources: &structs.Resources{CpuMhz: 100, MemoryMb: 64}}},
		}},
	}
}

// summaries reads the jobs' summaries from the leader (any running server
// while there is none): placed counts allocations starting or running,
// running those the clients reported running.
func summaries(ctx context.Context, c *cluster) (placed, running int) {
	m := c.leader()
	if m == nil {
		run := c.running()
		if len(run) == 0 {
			return 0, 0
		}
		m = run[0]
	}
	_, sums, err := m.srv.JobsWithSummaries(drover.AllowStale(ctx), "default", "bench-")
	if err != nil {
		return 0, 0
	}
	for _, s := range sums {
		for _, g := range s.GetGroups() {
			placed += int(g.Starting + g.Running)
			running += int(g.Running)
		}
	}
	return placed, running
}

// check reads every job's allocations from a running server and counts
// lost ones (client status lost or unknown), duplicates (two live
// allocations with one name) and missing ones.
func check(ctx context.Context, c *cluster, cfg config, res *result) error {
	run := c.running()
	if len(run) == 0 {
		return errors.New("no server runs")
	}
	srv := run[0].srv
	if l := c.leader(); l != nil {
		srv = l.srv
	}
	live := 0
	for j := range cfg.jobs {
		allocs, err := srv.Allocations(drover.AllowStale(ctx), "default", fmt.Sprintf("bench-%05d", j), "")
		if err != nil {
			return fmt.Errorf("list allocations: %w", err)
		}
		names := map[string]bool{}
		for _, a := range allocs {
			switch a.ClientStatus {
			case structs.AllocClientLost, structs.AllocClientUnknown:
				res.AllocsLost++
			}
			if a.DesiredStatus != structs.AllocDesiredRun || a.ClientTerminal() {
				continue
			}
			key := a.Name + "/" + a.NodeId
			if cfg.jobType != structs.JobTypeSystem {
				key = a.Name
			}
			if names[key] {
				res.AllocsDuplicated++
				continue
			}
			names[key] = true
			if a.ClientStatus == structs.AllocClientRunning {
				live++
			}
		}
	}
	res.AllocsMissing = max(0, res.Allocs-live)
	nodes, err := srv.Nodes(drover.AllowStale(ctx))
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range nodes {
		if n.Status != structs.NodeStatusReady {
			res.NodesNotReady++
		}
	}
	return nil
}

// raftCounters sums, over the running servers, the highest counts of raft
// entries and bytes applied (every server applies the same log).
func raftCounters(c *cluster) (entries, bytes int64) {
	return int64(counterMax(c, "drover_raft_applied_entries_total")), int64(counterMax(c, "drover_raft_applied_bytes_total"))
}

func counterMax(c *cluster, name string) float64 {
	var best float64
	for _, m := range c.running() {
		best = max(best, gathered(m, name))
	}
	return best
}

func counterSum(c *cluster, name string) float64 {
	var sum float64
	for _, m := range c.members {
		sum += gathered(m, name)
	}
	return sum
}

func gathered(m *member, name string) float64 {
	fams, err := m.reg.Gather()
	if err != nil {
		return 0
	}
	var v float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			v += mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
		}
	}
	return v
}

// processCPU is the process's user and system CPU time, in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func writeHeapProfile(file string) error {
	fh, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(fh); err != nil {
		_ = fh.Close()
		return err
	}
	return fh.Close()
}

// histogramSum adds up, over every server, a histogram's count and sum.
func histogramSum(c *cluster, name string) (count, sum float64) {
	for _, m := range c.members {
		fams, err := m.reg.Gather()
		if err != nil {
			continue
		}
		for _, f := range fams {
			if f.GetName() != name {
				continue
			}
			for _, mt := range f.GetMetric() {
				count += float64(mt.GetHistogram().GetSampleCount())
				sum += mt.GetHistogram().GetSampleSum()
			}
		}
	}
	return count, sum
}

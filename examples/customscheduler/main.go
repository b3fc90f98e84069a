// Command customscheduler shows a host-defined scheduler: jobs of type
// "by-tier" are placed only on nodes whose meta "tier" equals the job's
// meta "tier", one allocation per such node in turn. It runs a server
// with the scheduler registered and three clients (two "gold", one
// "silver"), registers a by-tier job of three allocations for gold, prints
// where they were placed and exits 0 once they run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/structs"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "customscheduler:", err)
		os.Exit(1)
	}
}

// byTier is the custom scheduler. It is pure, like the built-in ones: it
// reads the snapshot it is given and returns a plan; the server's plan
// applier still checks every node for room before committing it.
type byTier struct{}

func (byTier) Schedule(st scheduler.State, in scheduler.Input) (*scheduler.Decision, error) {
	eval := in.Eval
	job := st.Job(eval.Namespace, eval.JobId)
	plan := &structs.Plan{EvalId: eval.Id, Priority: eval.Priority, Job: job, SnapshotIndex: st.Index()}
	d := &scheduler.Decision{QueuedAllocations: map[string]int32{}}
	held := map[string]bool{}
	for _, a := range st.AllocsByJob(eval.Namespace, eval.JobId) {
		if a.DesiredStatus != drover.AllocDesiredRun || a.ClientTerminal() {
			continue
		}
		if job == nil || job.Stop {
			plan.NodeUpdate = append(plan.NodeUpdate, scheduler.StopAllocation(a, "job stopped"))
			continue
		}
		held[a.Name] = true
	}
	if job != nil && !job.Stop {
		var nodes []*structs.Node
		for _, n := range st.Nodes() {
			if n.Status == drover.NodeStatusReady && n.SchedulingEligibility != drover.NodeIneligible &&
				n.DrainStrategy == nil && n.Meta["tier"] == job.Meta["tier"] {
				nodes = append(nodes, n)
			}
		}
		next := 0
		for _, tg := range job.TaskGroups {
			for i := 0; i < int(tg.Count); i++ {
				name := scheduler.AllocName(job.Id, tg.Name, i)
				if held[name] {
					continue
				}
				if len(nodes) == 0 {
					d.QueuedAllocations[tg.Name]++
					continue
				}
				node := nodes[next%len(nodes)]
				next++
				plan.NodeAllocation = append(plan.NodeAllocation, scheduler.NewAllocation(in, job, tg, name, node))
			}
		}
	}
	if len(plan.NodeAllocation)+len(plan.NodeUpdate) > 0 {
		d.Plan = plan
	}
	return d, nil
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "drover-customscheduler-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: filepath.Join(dir, "server"), BindAddr: "127.0.0.1:0", Logger: logger,
		Schedulers: map[string]drover.SchedulerFactory{
			"by-tier": func() scheduler.Scheduler { return byTier{} },
		},
	})
	if err != nil {
		return err
	}
	defer srv.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		return err
	}
	tiers := map[string]string{}
	for i, tier := range []string{"gold", "gold", "silver"} {
		name := fmt.Sprintf("%s-%d", tier, i)
		cli, err := drover.NewClient(drover.ClientOptions{
			Name: name, DataDir: filepath.Join(dir, name), Servers: []string{srv.Addr()},
			Meta: map[string]string{"tier": tier}, Logger: logger,
			Functions: map[string]fn.Func{"serve": serve},
		})
		if err != nil {
			return err
		}
		defer cli.Shutdown(context.Background())
		select {
		case <-cli.Ready():
		case <-ctx.Done():
			return errors.New("client did not register")
		}
		tiers[cli.NodeID()] = tier
	}
	job := &drover.Job{
		Id: "cache", Type: "by-tier", Meta: map[string]string{"tier": "gold"},
		TaskGroups: []*drover.TaskGroup{{
			Name: "shard", Count: 3,
			Tasks: []*drover.Task{{Name: "serve", Driver: "fn", Config: drover.TaskConfig(map[string]any{"func": "serve"}),
				Resources: &drover.Resources{CpuMhz: 50, MemoryMb: 32}}},
		}},
	}
	if _, err := srv.RegisterJob(ctx, job); err != nil {
		return err
	}
	fmt.Fprintln(out, `registered job "cache" of type "by-tier" for tier gold`)
	for allocs, err := range srv.WatchAllocations(ctx, "", "cache") {
		if err != nil {
			return err
		}
		running := 0
		for _, a := range allocs {
			if a.ClientStatus == drover.AllocClientRunning {
				running++
			}
		}
		if running == 3 {
			sort.Slice(allocs, func(i, j int) bool { return allocs[i].Name < allocs[j].Name })
			for _, a := range allocs {
				fmt.Fprintf(out, "%-15s on %-8s (tier %s) %s\n", a.Name, a.NodeName, tiers[a.NodeId], a.ClientStatus)
				if tiers[a.NodeId] != "gold" {
					return fmt.Errorf("allocation %s landed on a %s node", a.Name, tiers[a.NodeId])
				}
			}
			return nil
		}
	}
	return fmt.Errorf("waiting for placements: %w", ctx.Err())
}

// serve is the task: a Go function that runs until stopped.
func serve(ctx context.Context, _ *fn.Task) error {
	<-ctx.Done()
	return nil
}

package drover_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/structs"
)

// A server and a client in one process run a Go function as a service.
func Example() {
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	srv, err := drover.NewServer(drover.ServerOptions{DataDir: filepath.Join(dir, "server"), BindAddr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		fmt.Println(err)
		return
	}

	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"),
		Servers: []string{srv.Addr()},
		Functions: map[string]fn.Func{
			"serve": func(ctx context.Context, t *fn.Task) error {
				<-ctx.Done() // run until the allocation is stopped
				return nil
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Shutdown(context.Background())

	_, err = srv.RegisterJob(ctx, &drover.Job{
		Id: "api",
		TaskGroups: []*drover.TaskGroup{{
			Name: "web", Count: 2,
			Tasks: []*drover.Task{{Name: "serve", Driver: "fn", Config: drover.TaskConfig(map[string]any{"func": "serve"}),
				Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 16}}},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Watch the job's allocations until both run.
	up := func(allocs []*drover.Allocation) int { // allocations running
		n := 0
		for _, a := range allocs {
			if a.ClientStatus == drover.AllocClientRunning && a.DesiredStatus == drover.AllocDesiredRun {
				n++
			}
		}
		return n
	}
	for allocs, err := range srv.WatchAllocations(ctx, "", "api") {
		if err != nil {
			fmt.Println(err)
			return
		}
		if up(allocs) == 2 {
			fmt.Println("2 allocations running")
			return
		}
	}
	fmt.Println("timed out")
	// Output: 2 allocations running
}

// A job's summary counts its allocations per task group. With no client
// to run them, both of this job's allocations stay queued.
func ExampleServer_JobsWithSummaries() {
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := drover.NewServer(drover.ServerOptions{DataDir: dir, BindAddr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_, err = srv.RegisterJob(ctx, &drover.Job{
		Id: "api",
		TaskGroups: []*drover.TaskGroup{{
			Name: "web", Count: 2,
			Tasks: []*drover.Task{{Name: "serve", Driver: "exec"}},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Summaries are kept as the state changes: block on the index until
	// the job's evaluation has reported what it could not place.
	var index uint64
	for {
		jobs, sums, err := srv.JobsWithSummaries(ctx, "default", "")
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, s := range sums {
			if g := s.Groups["web"]; g != nil && g.Queued == 2 {
				fmt.Printf("%d job; %s.web: %d queued, %d running\n", len(jobs), s.JobId, g.Queued, g.Running)
				return
			}
		}
		if index = srv.WaitForIndex(ctx, index); ctx.Err() != nil {
			fmt.Println("timed out")
			return
		}
	}
	// Output: 1 job; api.web: 2 queued, 0 running
}

// An invalid job is rejected whole, with every problem listed.
func ExampleServer_RegisterJob_validation() {
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
	srv, err := drover.NewServer(drover.ServerOptions{DataDir: dir, BindAddr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = srv.WaitForLeader(ctx)

	_, err = srv.RegisterJob(ctx, &drover.Job{
		Id:         "web",
		TaskGroups: []*drover.TaskGroup{{Name: "api", Count: -1}},
	})
	var verr *drover.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// job "web": group "api": count must be >= 0
	// job "web": group "api": at least one task is required
}

// Three servers on three hosts bootstrap one cluster: each expects three
// and joins the others' gossip. Any of them then takes every call.
func ExampleNewServer_cluster() {
	srv, err := drover.NewServer(drover.ServerOptions{
		Name:            "server-1",
		DataDir:         "/var/lib/app/drover",
		BindAddr:        "10.0.0.11:4647", // RPC; gossip on 10.0.0.11:4648
		BootstrapExpect: 3,
		// Gossip addresses of the others (one would do: gossip spreads it).
		ServerJoin: drover.ServerJoin{RetryJoin: []string{"10.0.0.12", "10.0.0.13"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.WaitForLeader(ctx); err != nil {
		fmt.Println(err) // wraps drover.ErrNoLeader until the others are up
		return
	}
	peersNow, _ := srv.RaftConfiguration(ctx)
	for _, p := range peersNow {
		fmt.Println(p.Name, p.Role, p.LastIndex)
	}
}

// A consistent read asks the leader for its commit index first; a stale
// read answers from this server's own state at once.
func ExampleAllowStale() {
	var srv *drover.Server // a running server of a cluster
	ctx := context.Background()
	if srv == nil {
		return
	}
	if _, err := srv.Job(ctx, "default", "web"); errors.Is(err, drover.ErrNoLeader) {
		// No quorum: fall back to what this server has.
		job, err := srv.Job(drover.AllowStale(ctx), "default", "web")
		fmt.Println(job.GetId(), err)
	}
}

// A backup of the whole state, and its restore into another cluster.
func ExampleServer_Backup() {
	var src, dst *drover.Server // servers of two running clusters
	if src == nil || dst == nil {
		return
	}
	ctx := context.Background()
	f, err := os.CreateTemp("", "drover-*.backup")
	if err != nil {
		return
	}
	defer os.Remove(f.Name())
	index, err := src.Backup(ctx, f)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := f.Seek(0, 0); err != nil {
		return
	}
	if _, err := dst.Restore(ctx, f); err != nil {
		fmt.Println(err) // drover.ErrBadRequest for a damaged backup: nothing changed
		return
	}
	fmt.Println("restored the state at index", index)
}

// A host serves the Nomad-compatible HTTP API next to the server, so that
// Nomad's tools and Go client can drive it.
func ExampleServer_HTTPHandler() {
	dir, _ := os.MkdirTemp("", "drover-http-")
	defer os.RemoveAll(dir)
	srv, err := drover.NewServer(drover.ServerOptions{DataDir: dir, BindAddr: "127.0.0.1:0", Registerer: prometheus.NewRegistry()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	httpSrv := &http.Server{Addr: "127.0.0.1:4646", Handler: srv.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = httpSrv.ListenAndServe() }()
	defer httpSrv.Close()
}

// everywhere is a custom scheduler: it places one allocation of each group
// on the first ready node, and nothing else. Real ones look at the nodes'
// attributes, meta and allocations; see docs/scheduling.md.
type everywhere struct{}

func (everywhere) Schedule(st scheduler.State, in scheduler.Input) (*scheduler.Decision, error) {
	job := st.Job(in.Eval.Namespace, in.Eval.JobId)
	d := &scheduler.Decision{}
	if job == nil || job.Stop || len(st.AllocsByJob(job.Namespace, job.Id)) > 0 {
		return d, nil
	}
	for _, n := range st.Nodes() {
		if n.Status != drover.NodeStatusReady {
			continue
		}
		d.Plan = &structs.Plan{EvalId: in.Eval.Id, Priority: in.Eval.Priority, Job: job, SnapshotIndex: st.Index()}
		for _, tg := range job.TaskGroups {
			d.Plan.NodeAllocation = append(d.Plan.NodeAllocation,
				scheduler.NewAllocation(in, job, tg, scheduler.AllocName(job.Id, tg.Name, 0), n))
		}
		break
	}
	return d, nil
}

// A host registers its own scheduler for a job type; jobs of that type go
// through the same broker, workers and plan applier as the built-in ones.
func ExampleServerOptions_schedulers() {
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: dir, BindAddr: "127.0.0.1:0",
		Schedulers: map[string]drover.SchedulerFactory{
			"first-node": func() drover.Scheduler { return everywhere{} },
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = srv.WaitForLeader(ctx)

	_, err = srv.RegisterJob(ctx, &drover.Job{
		Id: "probe", Type: "first-node",
		TaskGroups: []*drover.TaskGroup{{Name: "g", Count: 1, Tasks: []*drover.Task{{Name: "t", Driver: "fn"}}}},
	})
	fmt.Println("registered:", err == nil)
	// Output:
	// registered: true
}

// A job for another region of the federation, registered through any
// server: it is forwarded to that region's servers.
func ExampleInRegion() {
	var srv *drover.Server // a server of region "east", federated with "west"
	if srv == nil {
		return
	}
	ctx := context.Background()
	job := &drover.Job{Id: "web", Region: "west" /* ... */}
	if _, err := srv.RegisterJob(ctx, job); errors.Is(err, drover.ErrUnknownRegion) {
		fmt.Println("no server of west is in the gossip pool")
	}
	jobs, _ := srv.Jobs(drover.InRegion(ctx, "west"), "", "")
	fmt.Println(len(jobs))
}

// A task's driver configuration is written as plain Go values; an update
// is RegisterJob of a changed copy of the job.
func ExampleTaskConfig() {
	job := &drover.Job{
		Id: "report", Type: drover.JobTypeBatch,
		TaskGroups: []*drover.TaskGroup{{
			Name: "g", Count: 1,
			Tasks: []*drover.Task{{
				Name: "report", Driver: "raw_exec",
				Config: drover.TaskConfig(map[string]any{
					"command": "/bin/sh",
					"args":    []string{"-c", "date"},
					"timeout": 90 * time.Second,
				}),
				KillTimeout: drover.Duration(10 * time.Second),
				Resources:   &drover.Resources{CpuMhz: 50, MemoryMb: 32},
			}},
		}},
	}
	fmt.Println(job.TaskGroups[0].Tasks[0].Config.AsMap())

	// To update a job, change a copy (a job read from a server is shared
	// with its state) and register it again.
	update := drover.CloneJob(job)
	update.TaskGroups[0].Count = 3
	fmt.Println(job.TaskGroups[0].Count, update.TaskGroups[0].Count)
	// Output:
	// map[args:[-c date] command:/bin/sh timeout:1m30s]
	// 1 3
}

// An update is RegisterJob of a changed copy of the job; WatchAllocations
// follows its allocations as the servers and the client act on it.
func ExampleServer_WatchAllocations() {
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := drover.NewServer(drover.ServerOptions{DataDir: filepath.Join(dir, "server"), BindAddr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()},
		Functions: map[string]fn.Func{"serve": func(ctx context.Context, _ *fn.Task) error { <-ctx.Done(); return nil }},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		fmt.Println(err)
		return
	}

	job := &drover.Job{
		Id: "web", Type: drover.JobTypeService,
		TaskGroups: []*drover.TaskGroup{{
			Name: "g", Count: 1,
			Tasks: []*drover.Task{{Name: "serve", Driver: "fn", Config: drover.TaskConfig(map[string]any{"func": "serve"}),
				Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 16}}},
		}},
	}
	if _, err := srv.RegisterJob(ctx, job); err != nil {
		fmt.Println(err)
		return
	}
	up := func(allocs []*drover.Allocation) int { // allocations running
		n := 0
		for _, a := range allocs {
			if a.ClientStatus == drover.AllocClientRunning && a.DesiredStatus == drover.AllocDesiredRun {
				n++
			}
		}
		return n
	}
	want := 1
	for allocs, err := range srv.WatchAllocations(ctx, "", "web") {
		if err != nil {
			fmt.Println(err)
			return
		}
		if up(allocs) != want {
			continue
		}
		fmt.Println(want, "running")
		if want == 3 {
			return
		}
		update := drover.CloneJob(job)
		update.TaskGroups[0].Count = 3
		if _, err := srv.RegisterJob(ctx, update); err != nil {
			fmt.Println(err)
			return
		}
		want = 3
	}
	fmt.Println("timed out")
	// Output:
	// 1 running
	// 3 running
}

// A task's output is read from the client that ran it.
func ExampleClient_TaskLogs() {
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := drover.NewServer(drover.ServerOptions{DataDir: filepath.Join(dir, "server"), BindAddr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()},
		Functions: map[string]fn.Func{"greet": func(_ context.Context, t *fn.Task) error {
			_, err := fmt.Fprintln(t.Stdout, "hello from", t.TaskName)
			return err
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_, err = srv.RegisterJob(ctx, &drover.Job{
		Id: "greeting", Type: drover.JobTypeBatch,
		TaskGroups: []*drover.TaskGroup{{
			Name: "g", Count: 1,
			Tasks: []*drover.Task{{Name: "greet", Driver: "fn", Config: drover.TaskConfig(map[string]any{"func": "greet"}),
				Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 16}}},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for allocs, err := range srv.WatchAllocations(ctx, "", "greeting") {
		if err != nil {
			fmt.Println(err)
			return
		}
		if len(allocs) == 0 || allocs[0].ClientStatus != drover.AllocClientComplete {
			continue
		}
		logs, err := cli.TaskLogs(allocs[0].Id, "greet", drover.StreamStdout)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer logs.Close()
		if _, err := io.Copy(os.Stdout, logs); err != nil {
			fmt.Println(err)
		}
		return
	}
	// Output: hello from greet
}

// The settings of a server's parts travel in the parts' own
// configurations. A field left at zero takes its default, field by field;
// Validate reports every impossible value, in a stable order.
func ExampleServerOptions_parts() {
	opts := drover.ServerOptions{
		DataDir:   "/var/lib/drover",
		Heartbeat: drover.HeartbeatConfig{MinTTL: 30 * time.Second},
		GC:        drover.GCConfig{JobGCThreshold: 24 * time.Hour},
		Raft:      drover.RaftConfig{Multiplier: 5},
	}
	o := opts.WithDefaults()
	fmt.Println("heartbeat:", o.Heartbeat.MinTTL, o.Heartbeat.Grace)
	fmt.Println("gc:", o.GC.JobGCThreshold, o.GC.JobGCInterval)
	fmt.Println("raft:", o.Raft.Multiplier, o.Raft.ElectionTimeout())

	opts.Heartbeat.Grace = -time.Second
	opts.Raft.Multiplier = 11
	fmt.Println(opts.Validate())
	// Output:
	// heartbeat: 30s 10s
	// gc: 24h0m0s 5m0s
	// raft: 5 5s
	// invalid options: heartbeat: invalid config: heartbeat_grace must not be negative, got -1s
	// invalid options: raft: invalid config: raft_multiplier must be between 1 and 10, got 11
}

// Command dev runs a whole drover cluster in one process: a server and a
// client on loopback, a service job of three Go-function tasks and a batch
// job that runs a real command. It prints each allocation as it changes and
// exits 0 once the service runs and the batch job has completed.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/driver/rawexec"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "drover-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir:  filepath.Join(dir, "server"),
		BindAddr: "127.0.0.1:0",
		Logger:   logger,
	})
	if err != nil {
		return err
	}
	defer srv.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		return err
	}
	fmt.Printf("server leads on %s\n", srv.Addr())

	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"),
		Servers: []string{srv.Addr()},
		Drivers: []drover.Driver{rawexec.New(logger)},
		Functions: map[string]fn.Func{
			"greeter": greeter,
		},
		Logger: logger,
	})
	if err != nil {
		return err
	}
	defer cli.Shutdown(context.Background())
	select {
	case <-cli.Ready():
	case <-ctx.Done():
		return fmt.Errorf("client did not register: %w", ctx.Err())
	}
	fmt.Printf("client %s registered\n\n", cli.NodeID()[:8])

	for _, job := range []*drover.Job{serviceJob(), batchJob()} {
		resp, err := srv.RegisterJob(ctx, job)
		if err != nil {
			return err
		}
		fmt.Printf("registered %s job %q (evaluation %s)\n", job.Type, job.Id, resp.EvalId[:8])
	}
	fmt.Println()
	if err := watch(ctx, srv, os.Stdout); err != nil {
		return err
	}
	fmt.Println("\nservice running and batch complete; shutting down")
	return nil
}

// greeter is the service's task: a Go function run by the fn driver.
func greeter(ctx context.Context, t *fn.Task) error {
	fmt.Fprintf(t.Stdout, "hello from %s\n", t.ID)
	<-ctx.Done()
	return nil
}

func serviceJob() *drover.Job {
	return &drover.Job{
		Id: "greeter", Type: drover.JobTypeService,
		TaskGroups: []*drover.TaskGroup{{
			Name: "web", Count: 3,
			Tasks: []*drover.Task{{
				Name: "greet", Driver: "fn",
				Config:    drover.TaskConfig(map[string]any{"func": "greeter"}),
				Resources: &drover.Resources{CpuMhz: 50, MemoryMb: 32},
			}},
		}},
	}
}

func batchJob() *drover.Job {
	return &drover.Job{
		Id: "uname", Type: drover.JobTypeBatch,
		TaskGroups: []*drover.TaskGroup{{
			Name: "report", Count: 1,
			Tasks: []*drover.Task{{
				Name: "uname", Driver: "raw_exec",
				Config:    drover.TaskConfig(map[string]any{"command": "/bin/sh", "args": []string{"-c", "uname -a; echo done"}}),
				Resources: &drover.Resources{CpuMhz: 50, MemoryMb: 32},
			}},
		}},
	}
}

// watch prints every allocation change until the service job has three
// running allocations and the batch job a complete one.
func watch(ctx context.Context, srv *drover.Server, out io.Writer) error {
	seen := map[string]string{}
	const row = "%-10s  %-8s  %-16s  %-9s  %s\n"
	fmt.Fprintf(out, row, "ALLOCATION", "JOB", "NAME", "STATUS", "TASKS")
	var index uint64
	for {
		allocs, err := srv.Allocations(ctx, "", "", "")
		if err != nil {
			return err
		}
		sort.Slice(allocs, func(i, j int) bool { return allocs[i].Name < allocs[j].Name })
		running, complete := 0, 0
		for _, a := range allocs {
			if seen[a.Id] != a.ClientStatus {
				seen[a.Id] = a.ClientStatus
				fmt.Fprintf(out, row, a.Id[:8], a.JobId, a.Name, a.ClientStatus, taskSummary(a))
			}
			switch {
			case a.JobId == "greeter" && a.ClientStatus == drover.AllocClientRunning:
				running++
			case a.JobId == "uname" && a.ClientStatus == drover.AllocClientComplete:
				complete++
			case a.ClientStatus == drover.AllocClientFailed:
				return fmt.Errorf("allocation %s failed: %s", a.Name, taskSummary(a))
			}
		}
		if running == 3 && complete == 1 {
			return nil
		}
		index = srv.WaitForIndex(ctx, index)
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for allocations: %w", ctx.Err())
		}
	}
}

func taskSummary(a *drover.Allocation) string {
	var parts []string
	for name, st := range a.TaskStates {
		s := name + "=" + st.State
		if n := len(st.Events); n > 0 {
			s += " (" + st.Events[n-1].Type + ")"
		}
		parts = append(parts, s)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

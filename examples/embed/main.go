// Command embed is a host program using drover from end to end: three
// servers, a client, a service job and a batch job, an update, a task's
// output, a watch of allocations, and the loss of the leader. It exits 0
// once all of it has happened: go run ./examples/embed
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/driver/rawexec"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "drover-embed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Three servers: the others join the first through gossip, and the
	// three bootstrap the cluster together.
	servers, addrs := []*drover.Server{}, []string{}
	for i := range 3 {
		name := fmt.Sprint("server-", i)
		opts := drover.ServerOptions{Name: name, DataDir: filepath.Join(dir, name), BindAddr: "127.0.0.1:0", BootstrapExpect: 3}
		if i > 0 {
			opts.ServerJoin.RetryJoin = []string{servers[0].GossipAddr()}
		}
		srv, err := drover.NewServer(opts)
		if err != nil {
			return err
		}
		defer srv.Shutdown(context.Background())
		servers, addrs = append(servers, srv), append(addrs, srv.Addr())
	}
	srv := servers[0]
	if err := srv.WaitForLeader(ctx); err != nil {
		return err
	}

	// A client running Go functions and host commands, stopping its tasks
	// with it: its data dir is removed at the end.
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: addrs, Drivers: []drover.Driver{rawexec.New(nil)},
		Functions: map[string]fn.Func{"serve": func(ctx context.Context, t *fn.Task) error { <-ctx.Done(); return nil }},
	})
	if err != nil {
		return err
	}
	defer cli.ShutdownAndStopTasks(context.Background())

	// A service job of two instances, and a batch job of a shell command
	// whose output is read once it is complete.
	web := job("web", drover.JobTypeService, 2, "serve", "fn", map[string]any{"func": "serve"})
	if _, err := srv.RegisterJob(ctx, web); err != nil {
		return err
	}
	report := job("report", drover.JobTypeBatch, 1, "report", "raw_exec",
		map[string]any{"command": "/bin/sh", "args": []string{"-c", "echo kernel $(uname -s)"}})
	done, err := deploy(ctx, srv, report, 1, drover.AllocClientComplete)
	if err != nil {
		return err
	}
	logs, err := cli.TaskLogs(done[0].Id, "report", drover.StreamStdout)
	if err != nil {
		return err
	}
	defer logs.Close()
	fmt.Print("report output: ")
	if _, err := io.Copy(os.Stdout, logs); err != nil {
		return err
	}

	// An update is the changed job registered again: three instances with
	// another environment replace the two.
	update := drover.CloneJob(web)
	update.TaskGroups[0].Count = 3
	update.TaskGroups[0].Tasks[0].Env = map[string]string{"GREETING": "bonjour"}
	if _, err := deploy(ctx, srv, update, 3, drover.AllocClientRunning); err != nil {
		return err
	}

	// The leader stops; the other two elect a new one and go on.
	leader := max(slices.IndexFunc(servers, (*drover.Server).IsLeader), 0)
	fmt.Println("stopping the leader,", servers[leader].Name())
	if err := servers[leader].Shutdown(ctx); err != nil {
		return err
	}
	srv = servers[(leader+1)%3]
	update = drover.CloneJob(update)
	update.TaskGroups[0].Count = 1
	_, err = deploy(ctx, srv, update, 1, drover.AllocClientRunning)
	fmt.Println("scaled down through the new leader at", srv.LeaderAddr())
	return err
}

// job is a one-group, one-task job.
func job(id, typ string, count int32, task, driver string, config map[string]any) *drover.Job {
	return &drover.Job{Id: id, Type: typ, TaskGroups: []*drover.TaskGroup{{Name: "g", Count: count,
		Tasks: []*drover.Task{{Name: task, Driver: driver, Config: drover.TaskConfig(config),
			Resources: &drover.Resources{CpuMhz: 20, MemoryMb: 16}}}}}}
}

// deploy registers a job, or an update of one, and watches its allocations,
// printing the statuses of those the servers still want at every change,
// until n of them, and no other, have status.
func deploy(ctx context.Context, srv *drover.Server, j *drover.Job, n int, status string) ([]*drover.Allocation, error) {
	if _, err := srv.RegisterJob(ctx, j); err != nil {
		return nil, err
	}
	for allocs, err := range srv.WatchAllocations(ctx, "", j.Id) {
		if err != nil {
			return nil, err
		}
		count, matching := map[string]int{}, []*drover.Allocation(nil)
		for _, a := range allocs {
			if a.DesiredStatus == drover.AllocDesiredRun {
				count[a.ClientStatus]++
				if a.ClientStatus == status {
					matching = append(matching, a)
				}
			}
		}
		fmt.Printf("%-6s %v\n", j.Id, count)
		if len(matching) == n && len(count) == 1 {
			return matching, nil
		}
	}
	return nil, fmt.Errorf("waiting for %s: %w", j.Id, ctx.Err())
}

// Command rolling shows a rolling update in one process: a server and a
// client on loopback run five instances of a small HTTP service (a Go
// function behind an http check), then roll out a new version with a
// canary that is promoted once healthy, two instances at a time, and
// finally a broken version whose failing checks fail its deployment, which
// reverts the job to the last good version. It prints the deployment as it
// goes and exits 0 once the revert has rolled out.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/structs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rolling:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "drover-rolling-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	srv, err := drover.NewServer(drover.ServerOptions{DataDir: filepath.Join(dir, "server"), BindAddr: "127.0.0.1:0", Logger: logger})
	if err != nil {
		return err
	}
	defer srv.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		return err
	}
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()}, Logger: logger,
		Functions: map[string]fn.Func{"web": web},
	})
	if err != nil {
		return err
	}
	defer cli.Shutdown(context.Background())
	select {
	case <-cli.Ready():
	case <-ctx.Done():
		return ctx.Err()
	}

	steps := []struct {
		version string
		note    string
	}{
		{"v1", "the first version: its deployment tracks the first placements"},
		{"v2", "a new version: one canary beside the old instances, promoted once healthy"},
		{"broken", "a version whose health checks fail: its deployment fails and the job reverts"},
	}
	for i, step := range steps {
		fmt.Fprintf(out, "\n== %s: %s\n", step.version, step.note)
		if _, err := srv.RegisterJob(ctx, job(step.version)); err != nil {
			return err
		}
		d, err := follow(ctx, srv, uint64(i), out)
		if err != nil {
			return err
		}
		if step.version == "broken" {
			if d.Status != structs.DeploymentStatusFailed {
				return fmt.Errorf("the broken version's deployment is %s", d.Status)
			}
			fmt.Fprintln(out, "\n== the revert rolls out as version 3")
			if d, err = follow(ctx, srv, 3, out); err != nil {
				return err
			}
		}
		if d.Status != structs.DeploymentStatusSuccessful {
			return fmt.Errorf("deployment of version %d: %s (%s)", d.JobVersion, d.Status, d.StatusDescription)
		}
	}
	job, err := srv.Job(ctx, "default", "web")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\njob web is at version %d, running %s\n", job.Version, job.TaskGroups[0].Tasks[0].Env["VERSION"])
	return nil
}

// job is the service at a version: five instances, rolled out two at a
// time after a canary, healthy after a second of passing checks, reverted
// automatically when a deployment fails.
func job(version string) *drover.Job {
	cfg, _ := structpb.NewStruct(map[string]any{"func": "web"})
	return &drover.Job{
		Id: "web", Datacenters: []string{"dc1"},
		Update: &structs.UpdateStrategy{
			MaxParallel: proto.Int32(2), Canary: proto.Int32(1), AutoPromote: proto.Bool(true), AutoRevert: proto.Bool(true),
			MinHealthyTime: durationpb.New(time.Second), HealthyDeadline: durationpb.New(5 * time.Second),
			ProgressDeadline: durationpb.New(0),
		},
		TaskGroups: []*drover.TaskGroup{{
			Name: "web", Count: 5,
			Network: &structs.NetworkResource{Ports: []*structs.Port{{Label: "http"}}},
			Tasks: []*drover.Task{{
				Name: "server", Driver: "fn", Config: cfg, Env: map[string]string{"VERSION": version},
				Resources: &drover.Resources{CpuMhz: 20, MemoryMb: 16},
				Services: []*structs.Service{{Name: "web", Port: "http", Checks: []*structs.ServiceCheck{{
					Type: structs.CheckTypeHTTP, Path: "/health", Interval: durationpb.New(time.Second), Timeout: durationpb.New(time.Second),
				}}}},
			}},
		}},
	}
}

// web serves its version on its port; the broken version's /health fails.
func web(ctx context.Context, t *fn.Task) error {
	l, err := net.Listen("tcp", ":"+t.Env["NOMAD_PORT_http"])
	if err != nil {
		return err
	}
	version := t.Env["VERSION"]
	hs := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && version == "broken" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, version)
	})}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	_ = hs.Serve(l)
	return nil
}

// follow prints the deployment of a job version as it changes and returns
// it once it ended.
func follow(ctx context.Context, srv *drover.Server, version uint64, out io.Writer) (*structs.Deployment, error) {
	var (
		index uint64
		last  string
	)
	for {
		ds, err := srv.JobDeployments(ctx, "default", "web", false)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if d.JobVersion != version {
				continue
			}
			g := d.TaskGroups["web"]
			line := fmt.Sprintf("deployment %s  %-10s placed %d/%d  healthy %d  canaries %d/%d  %s",
				d.Id[:8], d.Status, g.GetPlacedAllocs(), g.GetDesiredTotal(), g.GetHealthyAllocs(),
				len(g.GetPlacedCanaries()), g.GetDesiredCanaries(), d.StatusDescription)
			if line != last {
				fmt.Fprintln(out, line)
				last = line
			}
			if !d.Active() {
				return d, nil
			}
		}
		if index = srv.WaitForIndex(ctx, index); ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for the deployment of version %d: %w", version, ctx.Err())
		}
	}
}

// Command batch shows a batch platform in one process: a server and a
// client on loopback, a parameterized job whose task (a Go function)
// resizes the image its payload names, and a host that dispatches five
// pieces of work with their payloads and meta, then watches the children
// run until every one has finished. It prints each child's result and
// exits 0 once all of them completed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"time"

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
		fmt.Fprintln(os.Stderr, "batch:", err)
		os.Exit(1)
	}
}

// request is the payload of one dispatch.
type request struct {
	Image string `json:"image"`
	Width int    `json:"width"`
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "drover-batch-")
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
	results := make(chan string, 16)
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()}, Logger: logger,
		Functions: map[string]fn.Func{"resize": resize(results)},
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

	if _, err := srv.RegisterJob(ctx, resizeJob()); err != nil {
		return err
	}
	fmt.Fprintln(out, "registered the parameterized job \"resize\": it runs only when dispatched")

	// A dispatch without the required meta key is refused whole.
	_, err = srv.DispatchJob(ctx, drover.Dispatch{JobID: "resize", Payload: []byte(`{}`)})
	if !errors.Is(err, drover.ErrValidation) {
		return fmt.Errorf("a dispatch without the required meta was not refused: %v", err)
	}
	fmt.Fprintf(out, "refused: %v\n", err)

	var ids []string
	for i, img := range []string{"cat.png", "dog.png", "bird.png", "fish.png", "fox.png"} {
		payload, _ := json.Marshal(request{Image: img, Width: 100 * (i + 1)})
		d, err := srv.DispatchJob(ctx, drover.Dispatch{
			JobID: "resize", Payload: payload, Meta: map[string]string{"owner": "web-frontend"},
			IdempotencyToken: "upload-" + img, // a retried upload does not resize twice
		})
		if err != nil {
			return err
		}
		ids = append(ids, d.JobID)
		fmt.Fprintf(out, "dispatched %s for %s\n", d.JobID, img)
	}
	again, err := srv.DispatchJob(ctx, drover.Dispatch{JobID: "resize", Payload: []byte(`{"image":"cat.png","width":100}`),
		Meta: map[string]string{"owner": "web-frontend"}, IdempotencyToken: "upload-cat.png"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "a retried dispatch returns the first child: %s\n", again.JobID)

	// Watch the children until every one is dead (finished).
	for children, err := range srv.WatchJobChildren(ctx, "", "resize") {
		if err != nil {
			return err
		}
		dead := 0
		for _, c := range children {
			if c.Status == structs.JobStatusDead {
				dead++
			}
		}
		if len(children) == len(ids) && dead == len(ids) {
			break
		}
	}
	var lines []string
	for range ids {
		select {
		case l := <-results:
			lines = append(lines, l)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Fprintln(out, "  "+l)
	}
	for _, id := range ids {
		allocs, err := srv.Allocations(ctx, "", id, "")
		if err != nil {
			return err
		}
		if len(allocs) != 1 || allocs[0].ClientStatus != structs.AllocClientComplete {
			return fmt.Errorf("child %s did not complete once", id)
		}
	}
	jobs, sums, err := srv.JobsWithSummaries(ctx, "default", "resize")
	if err != nil {
		return err
	}
	for i, j := range jobs {
		if j.Id == "resize" {
			c := sums[i].GetChildren()
			fmt.Fprintf(out, "all %d children finished (pending %d, running %d, dead %d)\n", len(ids), c.GetPending(), c.GetRunning(), c.GetDead())
		}
	}
	return nil
}

// resizeJob is the parameterized job: a payload is required, the owner
// meta key too, and the payload is written to local/request.json.
func resizeJob() *drover.Job {
	cfg, _ := structpb.NewStruct(map[string]any{"func": "resize"})
	return &drover.Job{
		Id: "resize", Type: structs.JobTypeBatch, Datacenters: []string{"dc1"},
		Parameterized: &drover.ParameterizedJobConfig{
			Payload: drover.DispatchPayloadRequired, MetaRequired: []string{"owner"}, MetaOptional: []string{"priority"},
		},
		TaskGroups: []*drover.TaskGroup{{
			Name: "resize", Count: 1,
			RestartPolicy: &drover.RestartPolicy{Attempts: 0, Interval: durationpb.New(time.Minute),
				Delay: durationpb.New(0), Mode: structs.RestartModeFail},
			Tasks: []*drover.Task{{
				Name: "resize", Driver: "fn", Config: cfg,
				DispatchPayload: &drover.DispatchPayloadConfig{File: "request.json"},
				Resources:       &drover.Resources{CpuMhz: 20, MemoryMb: 16},
			}},
		}},
	}
}

// resize reads its request from the payload file and reports the work.
func resize(results chan<- string) fn.Func {
	return func(ctx context.Context, t *fn.Task) error {
		b, err := os.ReadFile(filepath.Join(t.Dir, "local", "request.json"))
		if err != nil {
			return err
		}
		var req request
		if err := json.Unmarshal(b, &req); err != nil {
			return err
		}
		line := fmt.Sprintf("%s resized to %dpx for %s", req.Image, req.Width, t.Env["NOMAD_META_owner"])
		fmt.Fprintln(t.Stdout, line)
		results <- line
		return nil
	}
}

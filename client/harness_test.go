package client_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// deadline bounds every wait in these tests.
const deadline = harness.Deadline

// startClient starts a client of this package (not the drover facade)
// with cfg in datacenter dc1 and waits until it has registered.
func startClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = harness.Logger(t).With("agent", "client")
	}
	cfg.Datacenter = "dc1"
	c, err := client.New(cfg)
	require.NoError(t, err)
	harness.WaitReady(t, "client registration", c.Ready())
	return c
}

// job is a one-group, one-task job of the given type.
func job(id, typ string, count int32, task *structs.Task) *structs.Job {
	if task.Resources == nil {
		task.Resources = &structs.Resources{CpuMhz: 20, MemoryMb: 16}
	}
	return &structs.Job{
		Id: id, Type: typ,
		TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count, Tasks: []*structs.Task{task},
			RestartPolicy: &structs.RestartPolicy{Attempts: 0, Interval: durationpb.New(time.Minute), Delay: durationpb.New(0), Mode: "fail"},
		}},
	}
}

// shTask is an exec task running a shell script.
func shTask(name, script string) *structs.Task {
	return &structs.Task{
		Name: name, Driver: "exec",
		Config:      drover.TaskConfig(map[string]any{"command": "/bin/sh", "args": []any{"-c", script}}),
		Env:         map[string]string{"PATH": "/usr/bin:/bin"},
		KillTimeout: durationpb.New(time.Second), KillSignal: "SIGTERM",
		Resources: &structs.Resources{CpuMhz: 50, MemoryMb: 32},
	}
}

// mockTask is a mock-driver task.
func mockTask(name string, cfg map[string]any) *structs.Task {
	return &structs.Task{Name: name, Driver: "mock", Config: drover.TaskConfig(cfg), Resources: &structs.Resources{CpuMhz: 20, MemoryMb: 16}}
}

func register(t *testing.T, srv *drover.Server, j *structs.Job) {
	t.Helper()
	_, err := srv.RegisterJob(context.Background(), j)
	require.NoError(t, err)
}

func allocs(t *testing.T, srv *drover.Server, jobID string) []*structs.Allocation {
	t.Helper()
	out, err := srv.Allocations(context.Background(), "", jobID, "")
	require.NoError(t, err)
	return out
}

// only returns the job's single allocation, or nil while there is none.
func only(t *testing.T, srv *drover.Server, jobID string) *structs.Allocation {
	t.Helper()
	as := allocs(t, srv, jobID)
	if len(as) == 0 {
		return nil
	}
	require.Len(t, as, 1)
	return as[0]
}

func countStatus(as []*structs.Allocation, status string) int {
	n := 0
	for _, a := range as {
		if a.ClientStatus == status {
			n++
		}
	}
	return n
}

func events(st *structs.TaskState, typ string) []*structs.TaskEvent {
	var out []*structs.TaskEvent
	for _, e := range st.GetEvents() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// allocDir is where a client keeps an allocation.
func allocDir(clientDir, allocID string) string { return filepath.Join(clientDir, "alloc", allocID) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

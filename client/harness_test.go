package client_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/structs"
)

// deadline bounds every wait in these tests: generous, for a loaded machine.
const deadline = 60 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("DROVER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// freeAddr returns a loopback address nothing listens on, for a server
// that must come back on the same address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func startServer(t *testing.T, dir, addr string) *drover.Server {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: dir, BindAddr: addr, SerfBindAddr: "127.0.0.1:0", Logger: testLogger(t).With("agent", "server"),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	require.NoError(t, srv.WaitForLeader(ctx))
	return srv
}

func startClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t).With("agent", "client")
	}
	cfg.Datacenter = "dc1"
	c, err := client.New(cfg)
	require.NoError(t, err)
	select {
	case <-c.Ready():
	case <-time.After(deadline):
		t.Fatal("client did not register")
	}
	return c
}

func shutdown(t *testing.T, agents ...interface{ Shutdown(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	for _, a := range agents {
		require.NoError(t, a.Shutdown(ctx))
	}
}

// waitFor re-checks cond after every state change until it holds.
func waitFor(t *testing.T, srv *drover.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	var index uint64
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out after %s waiting for %s", deadline, what)
		}
		index = srv.WaitForIndex(ctx, index)
	}
}

// mustConfig builds a task config from literals the tests write.
func mustConfig(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
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
		Config:      mustConfig(map[string]any{"command": "/bin/sh", "args": []any{"-c", script}}),
		Env:         map[string]string{"PATH": "/usr/bin:/bin"},
		KillTimeout: durationpb.New(time.Second), KillSignal: "SIGTERM",
		Resources: &structs.Resources{CpuMhz: 50, MemoryMb: 32},
	}
}

// mockTask is a mock-driver task.
func mockTask(name string, cfg map[string]any) *structs.Task {
	return &structs.Task{Name: name, Driver: "mock", Config: mustConfig(cfg), Resources: &structs.Resources{CpuMhz: 20, MemoryMb: 16}}
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

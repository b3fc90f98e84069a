package client

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/structs"
)

// isolatedClient is a client under root/data that talks to no server:
// allocations are handed to it directly, as if the servers had sent them,
// so the servers' validation is bypassed.
func isolatedClient(t *testing.T) (c *Client, root string) {
	t.Helper()
	return isolatedClientAt(t, t.TempDir())
}

// isolatedClientAt is isolatedClient with its data dir in root/data.
func isolatedClientAt(t *testing.T, root string) (*Client, string) {
	t.Helper()
	m := mock.New(nil)
	t.Cleanup(m.Close)
	// Nothing listens on port 1: registration keeps failing, harmlessly.
	c, err := New(Config{DataDir: filepath.Join(root, "data"), Servers: []string{"127.0.0.1:1"}, Drivers: []driver.Driver{m}, Datacenter: "dc1"})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, c.Shutdown(ctx))
	})
	return c, root
}

// craftedAlloc is a one-group allocation of tasks named names.
func craftedAlloc(id string, names ...string) *structs.Allocation {
	cfg, _ := structpb.NewStruct(map[string]any{"run_for": "0s", "stdout_string": "hello"})
	tg := &structs.TaskGroup{Name: "g", Count: 1, RestartPolicy: &structs.RestartPolicy{
		Attempts: 0, Interval: durationpb.New(time.Minute), Delay: durationpb.New(0), Mode: structs.RestartModeFail}}
	for _, n := range names {
		tg.Tasks = append(tg.Tasks, &structs.Task{Name: n, Driver: "mock", Config: cfg,
			Resources: &structs.Resources{CpuMhz: 10, MemoryMb: 16}})
	}
	job := &structs.Job{Id: "j", Namespace: "default", Type: structs.JobTypeBatch, TaskGroups: []*structs.TaskGroup{tg}}
	return &structs.Allocation{Id: id, Namespace: "default", Name: "j.g[0]", JobId: "j", Job: job, TaskGroup: "g",
		DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientPending, ModifyIndex: 1, AllocModifyIndex: 1}
}

// runAlloc hands a to the client and waits for its runner to finish;
// it returns the tasks' last states.
func runAlloc(t *testing.T, c *Client, a *structs.Allocation) map[string]*structs.TaskState {
	t.Helper()
	c.allocs.reconcile(c.ctx, []*structs.Allocation{a}, a.ModifyIndex)
	c.allocs.mu.Lock()
	r := c.allocs.runners[a.Id]
	c.allocs.mu.Unlock()
	require.NotNil(t, r)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("allocation did not finish")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]*structs.TaskState{}
	for k, v := range r.states {
		out[k] = v
	}
	return out
}

// entries lists root's tree, relative, sorted. An entry removed while the
// walk runs (the cleanup of an allocation that just finished) is left out.
func entries(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p != root {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
		return nil
	}))
	slices.Sort(out)
	return out
}

// onlyDataDir asserts that nothing but the data dir is under root.
func onlyDataDir(t *testing.T, root string) {
	t.Helper()
	var outside []string
	for _, e := range entries(t, root) {
		if e != "." && e != "data" && !strings.HasPrefix(e, "data"+string(filepath.Separator)) {
			outside = append(outside, e)
		}
	}
	require.Empty(t, outside, "created outside the data dir")
}

func requireRefused(t *testing.T, st *structs.TaskState, want string) {
	t.Helper()
	require.NotNil(t, st)
	require.Equal(t, structs.TaskStateDead, st.State)
	require.True(t, st.Failed)
	var msgs []string
	for _, e := range st.Events {
		if e.Type == structs.TaskEventSetupFailure {
			msgs = append(msgs, e.Message)
		}
	}
	require.NotEmpty(t, msgs, "a setup-failure event says why: %v", st.Events)
	require.Contains(t, strings.Join(msgs, "\n"), want)
}

func TestClientCreatesNothingOutsideItsDataDirForEscapingTaskNames(t *testing.T) {
	c, root := isolatedClient(t)
	// "../../../x" from data/alloc/<id> is root/x: outside the data dir,
	// still inside the test's directory if the client ever followed it.
	for _, name := range []string{"../../../x", "..", "alloc", `..\..\x`, "a\x00b"} {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			a := craftedAlloc(uuid.NewString(), name, "fine")
			states := runAlloc(t, c, a)
			requireRefused(t, states[name], "task directory refused: unsafe path")
			onlyDataDir(t, root)
		})
	}
}

func TestClientRefusesAllocationIDsThatAreNotIDs(t *testing.T) {
	c, root := isolatedClient(t)
	before := entries(t, filepath.Join(root, "data", "alloc"))
	for _, id := range []string{"../../evil", "..", "a/b", ".hidden", "a\x00"} {
		states := runAlloc(t, c, craftedAlloc(id, "t"))
		requireRefused(t, states["t"], "not a valid allocation id")
		onlyDataDir(t, root)
	}
	require.Equal(t, before, entries(t, filepath.Join(root, "data", "alloc")), "no allocation dir was made")
}

func TestClientRefusesSymlinksOutOfAnAllocationDir(t *testing.T) {
	c, root := isolatedClient(t)
	outside := filepath.Join(root, "outside")
	require.NoError(t, os.Mkdir(outside, 0o700))
	id := uuid.NewString()
	shared := filepath.Join(root, "data", "alloc", id, "alloc")
	require.NoError(t, os.MkdirAll(shared, 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(shared, "logs")))

	states := runAlloc(t, c, craftedAlloc(id, "t"))
	requireRefused(t, states["t"], "symbolic link")
	got, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Empty(t, got, "nothing was written through the link")

	// A task directory replaced by a link is refused as well.
	id = uuid.NewString()
	dir := filepath.Join(root, "data", "alloc", id)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "t")))
	states = runAlloc(t, c, craftedAlloc(id, "t"))
	requireRefused(t, states["t"], "symbolic link")
	got, err = os.ReadDir(outside)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestClientRunsTasksWithSafeNamesInsideTheDataDir(t *testing.T) {
	c, root := isolatedClient(t)
	id := uuid.NewString()
	states := runAlloc(t, c, craftedAlloc(id, "web", ".dot-task"))
	for _, n := range []string{"web", ".dot-task"} {
		require.Equal(t, structs.TaskStateDead, states[n].State)
		require.False(t, states[n].Failed, "%v", states[n].Events)
		require.DirExists(t, filepath.Join(root, "data", "alloc", id, n, "local"))
		b, err := os.ReadFile(filepath.Join(root, "data", "alloc", id, "alloc", "logs", n+".stdout.0"))
		require.NoError(t, err)
		require.Equal(t, "hello", string(b))
	}
	onlyDataDir(t, root)
}

func TestJobsWithEscapingNamesAreRefusedAtRegistration(t *testing.T) {
	srv := testServer(t)
	for _, mod := range []func(j *structs.Job){
		func(j *structs.Job) { j.TaskGroups[0].Tasks[0].Name = "../../x" },
		func(j *structs.Job) { j.TaskGroups[0].Name = "../g" },
		func(j *structs.Job) { j.Id = "../j" },
		func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Artifacts = []*structs.Artifact{{Source: "https://example.com/a", Destination: "../../x"}}
		},
	} {
		j := craftedAlloc("x", "t").Job
		mod(j)
		_, err := srv.RegisterJob(context.Background(), j)
		require.ErrorIs(t, err, structs.ErrValidation)
	}
}

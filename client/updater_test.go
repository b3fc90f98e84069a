package client

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/server"
	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/structs"
)

func testServer(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.New(server.Config{
		Name: "s", Region: "global", Datacenter: "dc1", Store: inmem.New(), BindAddr: "127.0.0.1:0",
		NumSchedulers: 1, EnabledSchedulers: []string{"service", "batch", "system", "sysbatch"},
		Heartbeat:          heartbeat.DefaultConfig(),
		JobDefaultPriority: 50, JobMaxPriority: 100,
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))
	return s
}

func TestUpdatesTheServersRefuseAreDroppedAndTheRestDelivered(t *testing.T) {
	srv := testServer(t)
	m := mock.New(nil)
	defer m.Close()
	c, err := New(Config{DataDir: t.TempDir(), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{m}, Datacenter: "dc1"})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Shutdown(context.Background())) }()
	<-c.Ready()

	ctx := context.Background()
	_, err = srv.RegisterJob(ctx, &structs.Job{Id: "j", Type: structs.JobTypeBatch, TaskGroups: []*structs.TaskGroup{{Name: "g", Count: 1,
		Tasks: []*structs.Task{{Name: "t", Driver: "mock", Resources: &structs.Resources{CpuMhz: 10, MemoryMb: 16}}}}}})
	require.NoError(t, err)
	var alloc *structs.Allocation
	require.Eventually(t, func() bool {
		as, _ := srv.Allocations(ctx, "", "j", "")
		if len(as) == 1 && as[0].ClientStatus == structs.AllocClientComplete {
			alloc = as[0]
		}
		return alloc != nil
	}, time.Minute, 5*time.Millisecond)

	// One update the servers cannot take, one they can: the batch is
	// refused whole, then sent one by one.
	c.updates.push(&structs.Allocation{Id: "collected-long-ago", ClientStatus: structs.AllocClientComplete})
	c.updates.push(&structs.Allocation{Id: alloc.Id, ClientStatus: structs.AllocClientComplete, ClientDescription: "said again"})
	require.Eventually(t, func() bool {
		left, err := c.state.updates()
		return err == nil && len(left) == 0 && c.updates.pendingCount() == 0
	}, time.Minute, 5*time.Millisecond, "nothing stays pending, in memory or in the local state")
	as, err := srv.Allocations(ctx, "", "j", "")
	require.NoError(t, err)
	require.Equal(t, "said again", as[0].ClientDescription, "the good update got through")
}

func TestLocalStateSurvivesReopening(t *testing.T) {
	dir := t.TempDir()
	s, err := openState(dir)
	require.NoError(t, err)
	a := &structs.Allocation{Id: "a1", JobId: "j"}
	require.NoError(t, s.putAlloc(a))
	rec := &taskRecord{State: []byte{}, Handle: &driver.TaskHandle{ID: "a1/t", Driver: "mock", PID: 7}, ArtifactsDone: true}
	require.NoError(t, s.putTask("a1", "t", rec, &pendingUpdate{seq: 3, alloc: &structs.Allocation{Id: "a1", ClientStatus: "running"}}))
	require.NoError(t, s.putAlloc(&structs.Allocation{Id: "a2"}))
	require.NoError(t, s.putTask("a2", "x", rec, nil))
	require.NoError(t, s.deleteAlloc("a2"))
	// An older acknowledgement does not remove a newer update.
	require.NoError(t, s.deleteUpdates([]*pendingUpdate{{seq: 2, alloc: &structs.Allocation{Id: "a1"}}}))
	_, err = openState(dir)
	require.ErrorContains(t, err, "locked", "one client per data dir")
	require.NoError(t, s.close())

	s, err = openState(dir)
	require.NoError(t, err)
	defer s.close()
	allocs, err := s.allocs()
	require.NoError(t, err)
	require.Len(t, allocs, 1)
	require.Equal(t, "a1", allocs[0].alloc.Id)
	require.Equal(t, 7, allocs[0].tasks["t"].Handle.PID)
	require.True(t, allocs[0].tasks["t"].ArtifactsDone)
	ups, err := s.updates()
	require.NoError(t, err)
	require.Len(t, ups, 1)
	require.Equal(t, uint64(3), ups[0].seq)
	require.Equal(t, "running", ups[0].alloc.ClientStatus)
	require.NoError(t, s.deleteUpdates(ups))
	ups, err = s.updates()
	require.NoError(t, err)
	require.Empty(t, ups)
}

package client_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// A task's template lookups act with its workload identity: with ACLs on,
// they read the task's job's variables and its namespace's services, and
// nothing the identity does not grant.
func TestTemplateLookupsActWithTheTasksIdentity(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server"), ACL: drover.ACLOptions{Enabled: true}})
	t.Cleanup(func() { harness.Shutdown(t, srv) })
	m := mock.New(nil)
	t.Cleanup(m.Close)
	cli := startClient(t, client.Config{DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{m}})
	t.Cleanup(func() { harness.Shutdown(t, cli) })
	ctx := context.Background()

	j := job("web", structs.JobTypeService, 1, mockTask("t", map[string]any{"run_for": "1h"}))
	j.TaskGroups[0].Network = &structs.NetworkResource{Ports: []*structs.Port{{Label: "http"}}}
	j.TaskGroups[0].Services = []*structs.Service{{Name: "web-http", Port: "http", Provider: structs.ServiceProviderNomad}}
	register(t, srv, j)
	var alloc *structs.Allocation
	harness.Eventually(t, deadline, "the allocation to run", func() bool {
		alloc = only(t, srv, "web")
		return alloc != nil && alloc.ClientStatus == structs.AllocClientRunning
	})
	for path, v := range map[string]string{"nomad/jobs/web": "mine", "nomad/jobs/other": "theirs"} {
		_, err := srv.PutVariable(ctx, &drover.Variable{Path: path, Items: map[string]string{"v": v}}, nil)
		require.NoError(t, err)
	}

	lk := client.LookupsFor(cli, alloc.Id, "t")
	require.NotNil(t, lk)
	items, err := lk.Variable(ctx, "nomad/jobs/web")
	require.NoError(t, err)
	require.Equal(t, "mine", items["v"])
	_, err = lk.Variable(ctx, "nomad/jobs/other")
	require.ErrorIs(t, err, structs.ErrPermissionDenied)
	paths, err := lk.VariablePaths(ctx, "nomad/jobs")
	require.NoError(t, err)
	require.Equal(t, []string{"nomad/jobs/web"}, paths)
	harness.Eventually(t, deadline, "the service to be registered", func() bool {
		regs, err := lk.Services(ctx, "web-http")
		require.NoError(t, err)
		return len(regs) == 1
	})
	all, err := lk.Services(ctx, "")
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "web-http", all[0].ServiceName)
}

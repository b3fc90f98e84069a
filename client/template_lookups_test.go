package client_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/fn"
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

// A task with identity { env = true, file = true } finds its workload
// identity in NOMAD_TOKEN and in secrets/nomad_token; one without the
// block finds neither.
func TestIdentityBlockExposesTheToken(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	t.Cleanup(func() { harness.Shutdown(t, srv) })
	tokens := make(chan string, 2)
	f := fn.New(nil)
	require.NoError(t, f.Register("report", func(ctx context.Context, task *fn.Task) error {
		tokens <- task.TaskName + "=" + task.Env["NOMAD_TOKEN"]
		<-ctx.Done()
		return nil
	}))
	cli := startClient(t, client.Config{DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()},
		Drivers: []driver.Driver{f}, StopOnShutdown: []string{fn.Name}})
	t.Cleanup(func() { harness.Shutdown(t, cli) })

	task := func(name string) *structs.Task {
		return &structs.Task{Name: name, Driver: "fn", Config: drover.TaskConfig(map[string]any{"func": "report"}),
			Resources: &structs.Resources{CpuMhz: 20, MemoryMb: 16}}
	}
	j := job("id", structs.JobTypeService, 1, task("with"))
	j.TaskGroups[0].Tasks[0].Identity = &structs.WorkloadIdentity{Env: true, File: true}
	j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, task("without"))
	register(t, srv, j)
	got := map[string]string{}
	for range 2 {
		select {
		case s := <-tokens:
			name, tok, _ := strings.Cut(s, "=")
			got[name] = tok
		case <-time.After(deadline):
			t.Fatal("the tasks never started")
		}
	}
	require.Empty(t, got["without"])
	require.Equal(t, 2, strings.Count(got["with"], "."), "a JWT: %q", got["with"])
	alloc := only(t, srv, "id")
	require.Equal(t, got["with"], readFile(t, filepath.Join(allocDir(filepath.Join(dir, "client"), alloc.Id), "with", "secrets", "nomad_token")))
	_, err := os.Stat(filepath.Join(allocDir(filepath.Join(dir, "client"), alloc.Id), "without", "secrets", "nomad_token"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// A template reading a variable with nomadVar renders it with the task's
// identity (ACLs on), and when the variable changes renders again and
// restarts the task (change_mode restart).
func TestTemplateRendersAVariableAndRestartsOnChange(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server"), ACL: drover.ACLOptions{Enabled: true}})
	t.Cleanup(func() { harness.Shutdown(t, srv) })
	m := mock.New(nil)
	t.Cleanup(m.Close)
	clientDir := filepath.Join(dir, "client")
	cli := startClient(t, client.Config{DataDir: clientDir, Servers: []string{srv.Addr()}, Drivers: []driver.Driver{m},
		TemplateInterval: 100 * time.Millisecond})
	t.Cleanup(func() { harness.Shutdown(t, cli) })
	ctx := context.Background()
	v, err := srv.PutVariable(ctx, &drover.Variable{Path: "nomad/jobs/tmpl", Items: map[string]string{"db": "one"}}, nil)
	require.NoError(t, err)

	task := mockTask("t", map[string]any{"run_for": "1h"})
	task.Templates = []*structs.Template{{
		Data:        `db={{ with nomadVar "nomad/jobs/tmpl" }}{{ .db }}{{ end }}`,
		Destination: "local/out.txt", ChangeMode: "restart",
	}}
	register(t, srv, job("tmpl", structs.JobTypeService, 1, task))
	var alloc *structs.Allocation
	harness.Eventually(t, deadline, "the allocation to run", func() bool {
		alloc = only(t, srv, "tmpl")
		return alloc != nil && alloc.ClientStatus == structs.AllocClientRunning
	})
	out := filepath.Join(allocDir(clientDir, alloc.Id), "t", "local", "out.txt")
	require.Equal(t, "db=one", readFile(t, out))

	v.Items["db"] = "two"
	_, err = srv.PutVariable(ctx, v, &v.ModifyIndex)
	require.NoError(t, err)
	harness.Eventually(t, deadline, "the template to render the new value and the task to restart", func() bool {
		b, _ := os.ReadFile(out)
		a := only(t, srv, "tmpl")
		return string(b) == "db=two" && a.TaskStates["t"].GetRestarts() >= 1
	})
}

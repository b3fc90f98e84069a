package drover_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/structs"
)

// Variable writes and key rotations sent to a follower reach the leader;
// every server then opens the variables and serves the same key set.
func TestVariablesAndKeyringThroughAFollower(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3})
	c.WaitLeader(30 * time.Second)
	f := follower(c)
	require.NotNil(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	v, err := f.Server().PutVariable(ctx, &drover.Variable{Path: "app/db", Items: map[string]string{"pass": "s3cret"}}, new(uint64))
	require.NoError(t, err)
	require.Equal(t, "s3cret", v.Items["pass"])
	_, err = f.Server().PutVariable(ctx, &drover.Variable{Path: "app/db", Items: map[string]string{"pass": "other"}}, new(uint64))
	require.ErrorIs(t, err, drover.ErrVariableConflict)
	var conflict *drover.VariableConflictError
	require.ErrorAs(t, err, &conflict)
	require.Equal(t, v.ModifyIndex, conflict.Current.ModifyIndex)
	require.Equal(t, "s3cret", conflict.Current.Items["pass"])

	keys, err := f.Server().RotateRootKey(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	jwks, err := c.Leader().Server().JWKS(ctx)
	require.NoError(t, err)
	for _, m := range c.Running() {
		got, err := m.Server().Variable(ctx, "", "app/db")
		require.NoError(t, err, m.Name)
		require.Equal(t, "s3cret", got.Items["pass"], "sealed by the key rotated away from")
		set, err := m.Server().JWKS(ctx)
		require.NoError(t, err)
		require.JSONEq(t, string(jwks), string(set), "every server serves the same key set")
	}
	require.NoError(t, f.Server().DeleteVariable(ctx, "", "app/db", &v.ModifyIndex))
	_, err = c.Leader().Server().Variable(ctx, "", "app/db")
	require.True(t, errors.Is(err, drover.ErrNotFound), "%v", err)
}

// A service with provider "nomad" is listed by the facade while its
// allocation runs and disappears when the job stops.
func TestServicesThroughTheFacade(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server"), NumSchedulers: 1})
	cli := harness.StartClient(t, drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()}, Drivers: []drover.Driver{mock.New(nil)},
	})
	defer harness.Shutdown(t, cli, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job := &drover.Job{Id: "shop", TaskGroups: []*drover.TaskGroup{{
		Name: "web", Count: 1,
		Network:  &structs.NetworkResource{Ports: []*structs.Port{{Label: "http"}}},
		Services: []*drover.Service{{Name: "shop-web", Port: "http", Tags: []string{"b", "a"}, Provider: "nomad"}},
		Tasks: []*drover.Task{{Name: "t", Driver: "mock", Config: drover.TaskConfig(map[string]any{"run_for": "1h"}),
			Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 16}}},
	}}}
	_, err := srv.RegisterJob(ctx, job)
	require.NoError(t, err)
	harness.Eventually(t, 30*time.Second, "the service to be registered", func() bool {
		list, err := srv.ListServices(ctx, "")
		require.NoError(t, err)
		return len(list) == 1
	})
	list, err := srv.ListServices(ctx, "")
	require.NoError(t, err)
	require.Equal(t, drover.ServiceSummary{Namespace: "default", Name: "shop-web", Tags: []string{"a", "b"}}, list[0])
	regs, err := srv.ServiceRegistrations(ctx, "", "shop-web")
	require.NoError(t, err)
	require.Len(t, regs, 1)
	require.NotZero(t, regs[0].Port)

	_, err = srv.DeregisterJob(ctx, "", "shop", false)
	require.NoError(t, err)
	harness.Eventually(t, 30*time.Second, "the service to be deregistered", func() bool {
		list, err := srv.ListServices(ctx, "")
		require.NoError(t, err)
		return len(list) == 0
	})
}

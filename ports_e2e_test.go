package drover_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

func TestTasksAreToldTheirAssignedPorts(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	envs := make(chan map[string]string, 1)
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()}, Logger: harness.Logger(t),
		Functions: map[string]fn.Func{"listen": func(ctx context.Context, task *fn.Task) error {
			envs <- task.Env
			<-ctx.Done()
			return nil
		}},
	})
	require.NoError(t, err)
	defer harness.Shutdown(t, cli)
	<-cli.Ready()

	config, err := structpb.NewStruct(map[string]any{"func": "listen"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = srv.RegisterJob(ctx, &drover.Job{
		Id: "web", Datacenters: []string{"dc1"},
		TaskGroups: []*drover.TaskGroup{{
			Name: "g", Count: 1,
			Network: &structs.NetworkResource{Ports: []*structs.Port{{Label: "http"}, {Label: "admin", Value: 23999}}},
			Tasks:   []*drover.Task{{Name: "t", Driver: "fn", Config: config, Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 16}}},
		}},
	})
	require.NoError(t, err)
	var env map[string]string
	select {
	case env = <-envs:
	case <-ctx.Done():
		t.Fatal("the task did not start")
	}
	allocs, err := srv.Allocations(ctx, "", "web", "")
	require.NoError(t, err)
	require.Len(t, allocs, 1)
	ports := map[string]int32{}
	for _, p := range allocs[0].AllocatedPorts {
		ports[p.Label] = p.Value
	}
	require.Equal(t, int32(23999), ports["admin"], "the static port")
	require.NotZero(t, ports["http"], "a dynamic port")
	for _, prefix := range []string{"DROVER_", "NOMAD_"} {
		require.Equal(t, strconv.Itoa(int(ports["http"])), env[prefix+"PORT_http"], prefix)
		require.Equal(t, "23999", env[prefix+"PORT_admin"], prefix)
		require.NotEmpty(t, env[prefix+"ADDR_http"], prefix)
	}
}

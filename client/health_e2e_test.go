package client_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// serveHealth is an fn task serving /health on its "http" port with the
// status code answers gives.
func serveHealth(answers func() int) fn.Func {
	return func(ctx context.Context, task *fn.Task) error {
		l, err := net.Listen("tcp", ":"+task.Env["NOMAD_PORT_http"])
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(answers())
		}), ReadHeaderTimeout: time.Second}
		go func() {
			<-ctx.Done()
			_ = hs.Close()
		}()
		_ = hs.Serve(l)
		return nil
	}
}

// healthCluster runs a server and a client with the mock driver and an fn
// driver holding funcs.
func healthCluster(t *testing.T, funcs map[string]fn.Func) *drover.Server {
	t.Helper()
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	t.Cleanup(func() { harness.Shutdown(t, srv) })
	m := mock.New(nil)
	t.Cleanup(m.Close)
	f := fn.New(nil)
	for name, fun := range funcs {
		require.NoError(t, f.Register(name, fun))
	}
	cli := startClient(t, client.Config{DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()},
		Drivers: []driver.Driver{m, f}, StopOnShutdown: []string{fn.Name}, UpdateInterval: 50 * time.Millisecond})
	t.Cleanup(func() { harness.Shutdown(t, cli) })
	return srv
}

// checkedJob is a service job of one fn task with an http check of
// /health on its group's "http" port.
func checkedJob(fun string, u *structs.UpdateStrategy, restart *structs.CheckRestart) *structs.Job {
	task := &structs.Task{Name: "web", Driver: "fn", Config: drover.TaskConfig(map[string]any{"func": fun}),
		Resources: &structs.Resources{CpuMhz: 20, MemoryMb: 16}, KillTimeout: durationpb.New(time.Second),
		Services: []*structs.Service{{Name: "web", Port: "http", Checks: []*structs.ServiceCheck{{
			Name: "alive", Type: structs.CheckTypeHTTP, Path: "/health",
			Interval: durationpb.New(time.Second), Timeout: durationpb.New(time.Second), CheckRestart: restart,
		}}}}}
	j := job("web", structs.JobTypeService, 1, task)
	j.Datacenters = []string{"dc1"}
	j.TaskGroups[0].Network = &structs.NetworkResource{Ports: []*structs.Port{{Label: "http"}}}
	j.TaskGroups[0].RestartPolicy = &structs.RestartPolicy{Attempts: 5, Interval: durationpb.New(time.Hour),
		Delay: durationpb.New(0), Mode: structs.RestartModeFail}
	j.Update = u
	return j
}

func latestDeployment(t *testing.T, srv *drover.Server) *structs.Deployment {
	t.Helper()
	d, err := srv.LatestDeployment(context.Background(), "default", "web")
	require.NoError(t, err)
	return d
}

func TestTaskStatesMakeAnAllocationHealthy(t *testing.T) {
	srv := healthCluster(t, nil)
	j := job("web", structs.JobTypeService, 2, mockTask("t", map[string]any{"run_for": -1}))
	j.Update = &structs.UpdateStrategy{MaxParallel: proto.Int32(1), HealthCheck: proto.String(structs.HealthCheckTaskStates),
		MinHealthyTime: durationpb.New(300 * time.Millisecond), HealthyDeadline: durationpb.New(30 * time.Second)}
	register(t, srv, j)
	harness.WaitFor(t, srv, deadline, "a successful deployment", func() bool {
		d := latestDeployment(t, srv)
		return d != nil && d.Status == structs.DeploymentStatusSuccessful
	})
	for _, a := range allocs(t, srv, "web") {
		require.True(t, a.DeploymentStatus.IsHealthy())
		require.GreaterOrEqual(t, a.DeploymentStatus.Timestamp, a.TaskStates["t"].StartedAt+int64(300*time.Millisecond),
			"healthy only after min_healthy_time of running")
	}
}

func TestPassingHTTPCheckMakesAnAllocationHealthy(t *testing.T) {
	srv := healthCluster(t, map[string]fn.Func{"ok": serveHealth(func() int { return http.StatusOK })})
	register(t, srv, checkedJob("ok", &structs.UpdateStrategy{MaxParallel: proto.Int32(1),
		MinHealthyTime: durationpb.New(time.Second), HealthyDeadline: durationpb.New(30 * time.Second)}, nil))
	harness.WaitFor(t, srv, deadline, "a successful deployment", func() bool {
		d := latestDeployment(t, srv)
		return d != nil && d.Status == structs.DeploymentStatusSuccessful
	})
	a := only(t, srv, "web")
	require.True(t, a.DeploymentStatus.IsHealthy())
	require.Len(t, a.Checks, 1)
	require.Equal(t, structs.CheckPassing, a.Checks[0].Status)
	require.Equal(t, "alive", a.Checks[0].Name)
	require.Contains(t, a.Checks[0].Output, "200 OK")
}

func TestFailingHTTPCheckFailsTheDeployment(t *testing.T) {
	srv := healthCluster(t, map[string]fn.Func{"sick": serveHealth(func() int { return http.StatusInternalServerError })})
	register(t, srv, checkedJob("sick", &structs.UpdateStrategy{MaxParallel: proto.Int32(1),
		MinHealthyTime: durationpb.New(time.Second), HealthyDeadline: durationpb.New(3 * time.Second),
		ProgressDeadline: durationpb.New(0)}, nil))
	harness.WaitFor(t, srv, deadline, "the check reported critical", func() bool {
		a := only(t, srv, "web")
		return a != nil && len(a.Checks) == 1 && a.Checks[0].Status == structs.CheckCritical
	})
	harness.WaitFor(t, srv, deadline, "a failed deployment", func() bool {
		d := latestDeployment(t, srv)
		return d != nil && d.Status == structs.DeploymentStatusFailed
	})
	d := latestDeployment(t, srv)
	require.Equal(t, structs.DeploymentDescFailedAllocations, d.StatusDescription)
	require.Equal(t, int32(1), d.TaskGroups["g"].UnhealthyAllocs)
	require.True(t, only(t, srv, "web").DeploymentStatus.IsUnhealthy())
}

func TestCheckRestartRestartsTheTask(t *testing.T) {
	var calls atomic.Int32
	// Failing until the task has been restarted once.
	srv := healthCluster(t, map[string]fn.Func{"flaky": func(ctx context.Context, task *fn.Task) error {
		n := calls.Add(1)
		return serveHealth(func() int {
			if n == 1 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})(ctx, task)
	}})
	register(t, srv, checkedJob("flaky", &structs.UpdateStrategy{MaxParallel: proto.Int32(1),
		MinHealthyTime: durationpb.New(time.Second), HealthyDeadline: durationpb.New(time.Minute)},
		&structs.CheckRestart{Limit: 2}))
	harness.WaitFor(t, srv, deadline, "a successful deployment after a restart", func() bool {
		d := latestDeployment(t, srv)
		return d != nil && d.Status == structs.DeploymentStatusSuccessful
	})
	st := only(t, srv, "web").TaskStates["web"]
	require.Equal(t, uint32(1), st.Restarts)
	require.Len(t, events(st, structs.TaskEventRestartSignal), 1)
	require.Equal(t, `health check "alive" failed`, events(st, structs.TaskEventRestartSignal)[0].Message)
}

package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/driver/rawexec"
)

// clientNode is a real client (raw_exec, mock and fn drivers) whose logs
// are checked for rotation every 20ms.
type clientNode struct {
	cli *client.Client
	dir string
}

// startClientNode starts a client of servers on dir and waits until it
// holds its connection to a server.
func startClientNode(t *testing.T, dir string, servers ...string) *clientNode {
	t.Helper()
	return startClientNodeWith(t, dir, nil, servers...)
}

// startClientNodeWith is startClientNode with the config changed by mod.
func startClientNodeWith(t *testing.T, dir string, mod func(*client.Config), servers ...string) *clientNode {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("DROVER_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("agent", "client")
	}
	f := fn.New(logger)
	require.NoError(t, f.Register("idle", func(ctx context.Context, _ *fn.Task) error {
		<-ctx.Done()
		return nil
	}))
	cfg := client.Config{
		DataDir: dir, Servers: servers, Datacenter: "dc1", Region: "global", Logger: logger,
		Drivers:          []driver.Driver{rawexec.New(logger), mock.New(logger), f},
		StopOnShutdown:   []string{"fn", "mock"},
		LogCheckInterval: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	cli, err := client.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cli.WaitServerConnection(ctx), "the client connects to a server")
	return &clientNode{cli: cli, dir: dir}
}

func (n *clientNode) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, n.cli.Shutdown(ctx))
}

// apiServer serves a server's HTTP API to Nomad's Go client.
type apiServer struct {
	http  *httptest.Server
	tr    *http.Transport
	nomad *nomad.Client
}

func serveAPI(t *testing.T, h http.Handler, token string) *apiServer {
	t.Helper()
	s := &apiServer{http: httptest.NewServer(h), tr: &http.Transport{}}
	var err error
	s.nomad, err = nomad.NewClient(&nomad.Config{Address: s.http.URL, HttpClient: &http.Client{Transport: s.tr}, SecretID: token})
	require.NoError(t, err)
	t.Cleanup(s.close)
	return s
}

func (s *apiServer) close() {
	s.tr.CloseIdleConnections()
	s.http.CloseClientConnections()
	s.http.Close()
}

// withToken is a Nomad client of the same API acting with token.
func (s *apiServer) withToken(t *testing.T, token string) *nomad.Client {
	c, err := nomad.NewClient(&nomad.Config{Address: s.http.URL, HttpClient: &http.Client{Transport: s.tr}, SecretID: token})
	require.NoError(t, err)
	return c
}

// startServer starts one server that leads.
func startServer(t *testing.T, dir string, acl bool) *drover.Server {
	t.Helper()
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: dir, BindAddr: "127.0.0.1:0", NumSchedulers: 1, ACL: drover.ACLOptions{Enabled: acl},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitForLeader(ctx))
	return srv
}

// shJob is a service job of one raw_exec task running script in sh.
func shJob(id, script string) *nomad.Job {
	job := nomad.NewServiceJob(id, id, "global", 50)
	task := nomad.NewTask("web", "raw_exec").SetConfig("command", "/bin/sh").SetConfig("args", []string{"-c", script}).
		Require(&nomad.Resources{CPU: ptr(50), MemoryMB: ptr(32)})
	task.LogConfig = &nomad.LogConfig{MaxFiles: ptr(10), MaxFileSizeMB: ptr(1)}
	tg := nomad.NewTaskGroup("g", 1).AddTask(task)
	tg.RestartPolicy = &nomad.RestartPolicy{Attempts: ptr(0), Mode: ptr("fail")}
	return job.AddTaskGroup(tg)
}

// runJob registers job and waits until its one allocation runs.
func runJob(t *testing.T, c *nomad.Client, job *nomad.Job) *nomad.Allocation {
	t.Helper()
	_, _, err := c.Jobs().Register(job, nil)
	require.NoError(t, err)
	deadline := time.Now().Add(60 * time.Second)
	var index uint64
	for time.Now().Before(deadline) {
		allocs, meta, err := c.Jobs().Allocations(*job.ID, false, &nomad.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second})
		require.NoError(t, err)
		for _, a := range allocs {
			if a.ClientStatus == "running" && a.DesiredStatus == "run" {
				alloc, _, err := c.Allocations().Info(a.ID, nil)
				require.NoError(t, err)
				return alloc
			}
			require.NotEqual(t, "failed", a.ClientStatus, "allocation %s failed: %+v", a.ID, a.TaskStates)
		}
		index = meta.LastIndex
	}
	t.Fatalf("job %s never ran", *job.ID)
	return nil
}

// waitFor polls cond until it holds, within a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// taskDir is where a task's directory is on its client.
func (n *clientNode) taskDir(allocID, task string) string {
	return filepath.Join(n.dir, "alloc", allocID, task)
}

// numbered is the content of lines from..to as burstScript writes them.
func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %07d %s\n", i, pad)
	}
	return b.String()
}

// pad makes each numbered line 110 bytes long.
var pad = strings.Repeat("x", 96)

// burstScript writes, each time a file go.N appears in its directory,
// burst lines numbered on from the last; a burst is over 1 MB, so the
// client rotates the log after each one.
func burstScript(burst int) string {
	return fmt.Sprintf(`n=0; i=0; echo ready > ready
while true; do
  if [ -e go.$((n+1)) ]; then
    n=$((n+1)); end=$((i+%d))
    while [ $i -lt $end ]; do i=$((i+1)); printf 'line %%07d %s\n' $i; done
    echo $n > done.$n
  fi
  sleep 0.02
done`, burst, pad)
}

// stopJobs deregisters every job and waits until their allocations have
// stopped, so no task outlives the test.
func stopJobs(t *testing.T, c *nomad.Client) {
	t.Helper()
	jobs, _, err := c.Jobs().List(nil)
	require.NoError(t, err)
	for _, j := range jobs {
		_, _, err := c.Jobs().Deregister(j.ID, false, nil)
		require.NoError(t, err)
	}
	waitFor(t, "every allocation to stop", func() bool {
		allocs, _, err := c.Allocations().List(nil)
		require.NoError(t, err)
		for _, a := range allocs {
			if a.ClientStatus == "running" || a.ClientStatus == "pending" {
				return false
			}
		}
		return true
	})
}

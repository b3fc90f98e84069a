package client_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestArtifactsAreFetchedIntoTheTaskDirBeforeItStarts(t *testing.T) {
	bundle := tgz(t, map[string]string{"bin/hello.sh": "#!/bin/sh\necho hello\n"})
	conf := []byte("port = 8080\n")
	sum := sha256.Sum256(conf)
	files := map[string][]byte{"/bundle.tar.gz": bundle, "/app.conf": conf}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := files[r.URL.Path]; ok {
			_, _ = w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	defer web.Close()
	defer http.DefaultClient.CloseIdleConnections()

	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	m := mock.New(nil)
	defer m.Close()
	cliDir := filepath.Join(dir, "client")
	cli := startClient(t, client.Config{DataDir: cliDir, Servers: []string{srv.Addr()}, Drivers: []driver.Driver{m}})
	defer harness.Shutdown(t, cli)

	task := mockTask("app", map[string]any{"run_for": "-1"})
	task.Artifacts = []*structs.Artifact{
		{Source: web.URL + "/bundle.tar.gz"},
		{Source: web.URL + "/app.conf", Destination: "local/etc", Options: map[string]string{"checksum": "sha256:" + hex.EncodeToString(sum[:])}},
	}
	register(t, srv, job("app", "service", 1, task))
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		a := only(t, srv, "app")
		return a != nil && a.ClientStatus == structs.AllocClientRunning
	})
	a := only(t, srv, "app")
	taskDir := filepath.Join(allocDir(cliDir, a.Id), "app")
	require.Equal(t, "#!/bin/sh\necho hello\n", readFile(t, filepath.Join(taskDir, "local", "bin", "hello.sh")), "the archive is unpacked in local/")
	require.Equal(t, string(conf), readFile(t, filepath.Join(taskDir, "local", "etc", "app.conf")))
	require.Len(t, events(a.TaskStates["app"], structs.TaskEventDownloadingArtifacts), 1)

	// A checksum that does not match fails the task with a clear event.
	bad := mockTask("bad", map[string]any{"run_for": "-1"})
	bad.Artifacts = []*structs.Artifact{{Source: web.URL + "/app.conf", Options: map[string]string{"checksum": "sha256:" + hex.EncodeToString(make([]byte, 32))}}}
	register(t, srv, job("bad", "service", 1, bad))
	harness.WaitFor(t, srv, deadline, "the task to fail", func() bool {
		a := only(t, srv, "bad")
		return a != nil && a.ClientStatus == structs.AllocClientFailed
	})
	st := only(t, srv, "bad").TaskStates["bad"]
	failed := events(st, structs.TaskEventArtifactDownloadFailed)
	require.Len(t, failed, 1)
	require.Contains(t, failed[0].Message, "checksum mismatch")
	require.Empty(t, events(st, structs.TaskEventStarted), "the task never started")
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestStatusUpdatesOfManyAllocationsTravelTogether(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	m := mock.New(nil)
	defer m.Close()
	reg := prometheus.NewRegistry()
	cli := startClient(t, client.Config{DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()},
		Drivers: []driver.Driver{m}, Registerer: reg, UpdateInterval: time.Second})
	defer harness.Shutdown(t, cli)

	const count = 20
	register(t, srv, job("many", "service", count, mockTask("t", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "every allocation to run", func() bool {
		return countStatus(allocs(t, srv, "many"), structs.AllocClientRunning) == count
	})
	// The servers applied the last batch before the client saw the answer.
	var batches float64
	require.Eventually(t, func() bool {
		batches = counterValue(t, reg, "drover_client_alloc_update_batches_total")
		return batches > 0
	}, deadline, 10*time.Millisecond)
	require.Less(t, batches, float64(count)/2,
		"%d allocations, each received then started, reached the servers in %v calls", count, batches)
}

func TestUpdatesMadeWhileTheServerIsDownAreNotLost(t *testing.T) {
	dir := t.TempDir()
	addr := harness.FreeAddr(t)
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server"), BindAddr: addr})
	m := mock.New(nil)
	defer m.Close()
	cliDir := filepath.Join(dir, "client")
	reg := prometheus.NewRegistry()
	cfg := client.Config{DataDir: cliDir, Servers: []string{addr}, Drivers: []driver.Driver{m},
		UpdateInterval: 50 * time.Millisecond, Registerer: reg}
	cli := startClient(t, cfg)

	register(t, srv, job("report", "batch", 1, mockTask("report", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		a := only(t, srv, "report")
		return a != nil && a.ClientStatus == structs.AllocClientRunning
	})
	allocID := only(t, srv, "report").Id
	harness.Shutdown(t, srv)

	// With no server to tell, the task ends, and the client restarts.
	ch, err := m.WaitTask(context.Background(), allocID+"/report")
	require.NoError(t, err)
	require.NoError(t, m.StopTask(context.Background(), allocID+"/report", time.Second, ""))
	<-ch
	require.Eventually(t, func() bool {
		return counterValue(t, reg, "drover_client_alloc_update_failures_total") > 0
	}, deadline, 10*time.Millisecond, "the client tries to send how the task ended")
	harness.Shutdown(t, cli)
	require.Equal(t, structs.AllocClientFailed, unsentUpdate(t, cliDir, allocID).GetClientStatus(),
		"the update the servers never got is in the client's state")
	cfg.Registerer = nil
	cli, err = client.New(cfg)
	require.NoError(t, err)
	defer harness.Shutdown(t, cli)

	srv = harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server"), BindAddr: addr})
	defer harness.Shutdown(t, srv)
	harness.WaitFor(t, srv, deadline, "the servers to learn how the task ended", func() bool {
		return only(t, srv, "report").ClientStatus == structs.AllocClientFailed
	})
	term := events(only(t, srv, "report").TaskStates["report"], structs.TaskEventTerminated)
	require.Len(t, term, 1)
	require.Equal(t, int32(143), term[0].ExitCode)
}

// unsentUpdate reads a stopped client's state file for the update of an
// allocation it has not delivered.
func unsentUpdate(t *testing.T, dir, allocID string) *structs.Allocation {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "client-state.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	var a *structs.Allocation
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte("updates")).Get([]byte(allocID))
		if len(v) < 8 {
			return nil
		}
		a = &structs.Allocation{}
		return proto.Unmarshal(v[8:], a)
	}))
	return a
}

func TestAllocationsTheServersForgetAreCleanedUp(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	m := mock.New(nil)
	defer m.Close()
	cliDir := filepath.Join(dir, "client")
	cli := startClient(t, client.Config{DataDir: cliDir, Servers: []string{srv.Addr()}, Drivers: []driver.Driver{m}})
	defer harness.Shutdown(t, cli)

	register(t, srv, job("web", "service", 1, mockTask("web", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		a := only(t, srv, "web")
		return a != nil && a.ClientStatus == structs.AllocClientRunning
	})
	a := only(t, srv, "web")
	require.DirExists(t, allocDir(cliDir, a.Id))
	fi, err := os.Stat(cliDir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "the data dir is the client's alone")
	_, err = srv.DeregisterJob(t.Context(), "", "web", false)
	require.NoError(t, err)
	harness.WaitFor(t, srv, deadline, "the task to stop", func() bool { return only(t, srv, "web").ClientStatus == structs.AllocClientComplete })
	require.DirExists(t, allocDir(cliDir, a.Id), "a stopped allocation is kept while the servers know it")

	_, err = srv.GarbageCollect(t.Context())
	require.NoError(t, err)
	require.Empty(t, allocs(t, srv, "web"))
	require.Eventually(t, func() bool {
		_, err := os.Stat(allocDir(cliDir, a.Id))
		return os.IsNotExist(err)
	}, deadline, 10*time.Millisecond, "the client removes what the servers collected")
}

func TestShutdownLeavesTasksRunningForTheNextClient(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	m := mock.New(nil)
	defer m.Close()
	f := fn.New(nil)
	stopped := make(chan struct{}, 1)
	require.NoError(t, f.Register("serve", func(ctx context.Context, _ *fn.Task) error {
		<-ctx.Done()
		stopped <- struct{}{}
		return nil
	}))
	cfg := client.Config{DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()},
		Drivers: []driver.Driver{m, f}, StopOnShutdown: []string{fn.Name}}
	cli := startClient(t, cfg)

	register(t, srv, job("web", "service", 1, mockTask("web", map[string]any{"run_for": "-1"})))
	fnTask := &structs.Task{Name: "serve", Driver: "fn", Config: drover.TaskConfig(map[string]any{"func": "serve"}),
		Resources: &structs.Resources{CpuMhz: 20, MemoryMb: 16}}
	register(t, srv, job("fn", "service", 1, fnTask))
	harness.WaitFor(t, srv, deadline, "both tasks to run", func() bool {
		return countStatus(allocs(t, srv, "web"), structs.AllocClientRunning) == 1 &&
			countStatus(allocs(t, srv, "fn"), structs.AllocClientRunning) == 1
	})
	web := only(t, srv, "web")
	harness.Shutdown(t, cli)
	select {
	case <-stopped:
	case <-time.After(deadline):
		t.Fatal("a task of a StopOnShutdown driver was left running")
	}
	ch, err := m.WaitTask(t.Context(), web.Id+"/web")
	require.NoError(t, err)
	select {
	case <-ch:
		t.Fatal("the mock task stopped with its client")
	default:
	}

	cli = startClient(t, cfg)
	defer harness.Shutdown(t, cli)
	harness.WaitFor(t, srv, deadline, "the fn task to start again and the mock task to be reported", func() bool {
		f := only(t, srv, "fn").TaskStates["serve"]
		w := only(t, srv, "web")
		return len(events(f, structs.TaskEventStarted)) == 2 && f.GetState() == structs.TaskStateRunning &&
			w.ModifyIndex > web.ModifyIndex
	})
	serve := only(t, srv, "fn").TaskStates["serve"]
	require.Len(t, events(serve, structs.TaskEventRestoreFailed), 1, "a function does not survive its client")
	require.Zero(t, serve.Restarts, "starting it again is not a restart under its policy")
	st := only(t, srv, "web").TaskStates["web"]
	require.Equal(t, structs.TaskStateRunning, st.State)
	require.Len(t, events(st, structs.TaskEventStarted), 1, "the mock task was reattached, not started again")
	require.Zero(t, st.Restarts)
	_, err = srv.DeregisterJob(t.Context(), "", "fn", false)
	require.NoError(t, err)
	harness.WaitFor(t, srv, deadline, "the fn task to stop", func() bool { return only(t, srv, "fn").ClientStatus == structs.AllocClientComplete })
	<-stopped
}

func TestClientMovesOnFromAServerThatDoesNotAnswer(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	m := mock.New(nil)
	defer m.Close()
	// The first server listed is gone: registration, the watch and the
	// updates all go on to the next one.
	cli := startClient(t, client.Config{DataDir: filepath.Join(dir, "client"), Servers: []string{harness.FreeAddr(t), srv.Addr()},
		Drivers: []driver.Driver{m}})
	defer harness.Shutdown(t, cli)
	register(t, srv, job("web", "service", 1, mockTask("web", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		a := only(t, srv, "web")
		return a != nil && a.ClientStatus == structs.AllocClientRunning
	})
}

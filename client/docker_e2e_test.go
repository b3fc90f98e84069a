//go:build linux

package client_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	mobyclient "github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/docker"
	"github.com/droverhq/drover/internal/testing/dockertest"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// dockerTask is a docker task of the test image, run with args.
func dockerTask(name, image string, args ...string) *structs.Task {
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	return &structs.Task{
		Name: name, Driver: "docker", Config: drover.TaskConfig(map[string]any{"image": image, "args": a}),
		KillTimeout: durationpb.New(2 * time.Second), Resources: &structs.Resources{CpuMhz: 100, MemoryMb: 64},
	}
}

// containersOf lists the containers, running or not, of an allocation.
func containersOf(t *testing.T, engine *mobyclient.Client, allocID string) []string {
	t.Helper()
	res, err := engine.ContainerList(context.Background(), mobyclient.ContainerListOptions{
		All: true, Filters: mobyclient.Filters{}.Add("label", docker.LabelAllocID+"="+allocID),
	})
	require.NoError(t, err)
	ids := make([]string, 0, len(res.Items))
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return ids
}

// oneContainer waits for the allocation's single container and returns
// its id.
func oneContainer(t *testing.T, engine *mobyclient.Client, allocID string) string {
	t.Helper()
	var ids []string
	require.Eventually(t, func() bool {
		ids = containersOf(t, engine, allocID)
		return len(ids) == 1
	}, deadline, 50*time.Millisecond, "the allocation has one container")
	return ids[0]
}

func inspectContainer(t *testing.T, engine *mobyclient.Client, id string) mobyclient.ContainerInspectResult {
	t.Helper()
	c, err := engine.ContainerInspect(context.Background(), id, mobyclient.ContainerInspectOptions{})
	require.NoError(t, err)
	return c
}

// startDockerClient runs an in-process client with a docker driver,
// closed after the client.
func startDockerClient(t *testing.T, engine *mobyclient.Client, srv interface{ Addr() string }, dir string) *client.Client {
	t.Helper()
	d := docker.New(docker.Config{Logger: harness.Logger(t)})
	cli := startClient(t, client.Config{DataDir: dir, Servers: []string{srv.Addr()}, Drivers: []driver.Driver{d}})
	t.Cleanup(func() {
		harness.Shutdown(t, cli)
		require.NoError(t, d.Close())
		removeLeftContainers(t, engine, dir)
	})
	return cli
}

// removeLeftContainers removes the containers of the allocations a
// client's data dir holds, which a shut down client leaves running (and
// a failed test may leave).
func removeLeftContainers(t *testing.T, engine *mobyclient.Client, clientDir string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(clientDir, "alloc"))
	for _, e := range entries {
		for _, id := range containersOf(t, engine, e.Name()) {
			_, err := engine.ContainerRemove(context.Background(), id, mobyclient.ContainerRemoveOptions{Force: true})
			require.NoError(t, err)
		}
	}
}

func TestDockerTaskServesOnItsHostPortWithItsLimitAndIsRemovedWhenStopped(t *testing.T) {
	engine := dockertest.Engine(t)
	image := dockertest.Image(t, engine)
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	cliDir := filepath.Join(dir, "client")
	cli := startDockerClient(t, engine, srv, cliDir)

	task := dockerTask("web", image, "serve")
	task.Config = drover.TaskConfig(map[string]any{"image": image, "args": []any{"serve"}, "ports": []any{"http"}})
	task.Env = map[string]string{"PORT": "8080"}
	j := job("web", "service", 1, task)
	j.TaskGroups[0].Network = &structs.NetworkResource{Ports: []*structs.Port{{Label: "http", To: 8080}}}
	register(t, srv, j)
	var alloc *structs.Allocation
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		alloc = only(t, srv, "web")
		return alloc != nil && alloc.ClientStatus == structs.AllocClientRunning
	})
	require.Len(t, alloc.AllocatedPorts, 1)
	ip := cli.Node().Attributes["unique.network.ip-address"]
	if ip == "" {
		ip = "127.0.0.1"
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(int(alloc.AllocatedPorts[0].Value)))
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return true
	}, deadline, 50*time.Millisecond, "the container answers on %s", addr)
	require.Equal(t, "hello from "+alloc.Id+"\n", body)

	id := oneContainer(t, engine, alloc.Id)
	c := inspectContainer(t, engine, id)
	require.Equal(t, int64(64<<20), c.Container.HostConfig.Memory, "docker inspect shows the task's memory as the limit")
	logs := filepath.Join(allocDir(cliDir, alloc.Id), "alloc", "logs")
	require.Eventually(t, func() bool { return readFileOr(filepath.Join(logs, "web.stdout.0")) != "" }, deadline, 20*time.Millisecond)
	require.Contains(t, readFile(t, filepath.Join(logs, "web.stdout.0")), "listening on 8080")

	_, err := srv.DeregisterJob(t.Context(), "", "web", false)
	require.NoError(t, err)
	harness.WaitFor(t, srv, deadline, "the task to be stopped", func() bool {
		return only(t, srv, "web").ClientStatus == structs.AllocClientComplete
	})
	require.Eventually(t, func() bool { return len(containersOf(t, engine, alloc.Id)) == 0 }, deadline, 50*time.Millisecond,
		"stopping the job removes the container")
}

func readFileOr(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func TestDockerContainerKilledBehindTheClientsBackIsRestartedByPolicy(t *testing.T) {
	engine := dockertest.Engine(t)
	image := dockertest.Image(t, engine)
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	startDockerClient(t, engine, srv, filepath.Join(dir, "client"))

	j := job("victim", "service", 1, dockerTask("victim", image, "sleep"))
	j.TaskGroups[0].RestartPolicy = &structs.RestartPolicy{
		Attempts: 1, Interval: durationpb.New(time.Hour), Delay: durationpb.New(0), Mode: structs.RestartModeFail,
	}
	register(t, srv, j)
	var alloc *structs.Allocation
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		alloc = only(t, srv, "victim")
		return alloc != nil && alloc.ClientStatus == structs.AllocClientRunning
	})
	first := oneContainer(t, engine, alloc.Id)
	_, err := engine.ContainerKill(context.Background(), first, mobyclient.ContainerKillOptions{Signal: "SIGKILL"})
	require.NoError(t, err)

	harness.WaitFor(t, srv, deadline, "the task to be restarted", func() bool {
		a := only(t, srv, "victim")
		return a.TaskStates["victim"].GetRestarts() == 1 && a.TaskStates["victim"].GetState() == structs.TaskStateRunning
	})
	second := oneContainer(t, engine, alloc.Id)
	require.NotEqual(t, first, second, "a new container replaced the killed one, which is removed")
	st := only(t, srv, "victim").TaskStates["victim"]
	term := events(st, structs.TaskEventTerminated)
	require.Len(t, term, 1)
	require.Equal(t, int32(137), term[0].ExitCode)
	require.Len(t, containersOf(t, engine, alloc.Id), 1, "the killed container was removed")

	_, err = srv.DeregisterJob(t.Context(), "", "victim", false)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(containersOf(t, engine, alloc.Id)) == 0 }, deadline, 50*time.Millisecond)
}

func TestDockerTaskWithAMissingImageFailsAndSaysSo(t *testing.T) {
	engine := dockertest.Engine(t)
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	startDockerClient(t, engine, srv, filepath.Join(dir, "client"))

	task := dockerTask("ghost", dockertest.Repository+":no-such-tag")
	task.Config = drover.TaskConfig(map[string]any{"image": dockertest.Repository + ":no-such-tag", "image_pull_timeout": "20s"})
	register(t, srv, job("ghost", "batch", 1, task))
	harness.WaitFor(t, srv, deadline, "the allocation to fail", func() bool {
		a := only(t, srv, "ghost")
		return a != nil && a.ClientStatus == structs.AllocClientFailed
	})
	failures := events(only(t, srv, "ghost").TaskStates["ghost"], structs.TaskEventDriverFailure)
	require.NotEmpty(t, failures)
	require.Contains(t, failures[0].Message, `image "`+dockertest.Repository+`:no-such-tag" is not on this host and could not be pulled`)
}

func TestDockerOOMKillIsReportedAsSuch(t *testing.T) {
	engine := dockertest.Engine(t)
	image := dockertest.Image(t, engine)
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	startDockerClient(t, engine, srv, filepath.Join(dir, "client"))

	task := dockerTask("hog", image, "hog", "256")
	task.Resources.MemoryMb = 32
	register(t, srv, job("hog", "batch", 1, task))
	harness.WaitFor(t, srv, deadline, "the allocation to fail", func() bool {
		a := only(t, srv, "hog")
		return a != nil && a.ClientStatus == structs.AllocClientFailed
	})
	term := events(only(t, srv, "hog").TaskStates["hog"], structs.TaskEventTerminated)
	require.Len(t, term, 1)
	require.Equal(t, driver.ErrOOMKilled.Error(), term[0].DriverError)
	require.Contains(t, term[0].Message, "OOM killed")
}

func TestHardKilledClientReattachesToItsContainerTwiceAndRemovesItOnceStopped(t *testing.T) {
	engine := dockertest.Engine(t)
	image := dockertest.Image(t, engine)
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	clientDir := filepath.Join(dir, "client")
	t.Cleanup(func() { removeLeftContainers(t, engine, clientDir) })
	child := startChildClient(t, clientDir, srv.Addr(), "first")

	register(t, srv, job("keeper", "service", 1, dockerTask("keeper", image, "sleep")))
	var alloc *structs.Allocation
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		alloc = only(t, srv, "keeper")
		return alloc != nil && alloc.ClientStatus == structs.AllocClientRunning
	})
	id := oneContainer(t, engine, alloc.Id)
	startedAt := inspectContainer(t, engine, id).Container.State.StartedAt

	for i, name := range []string{"second", "third"} {
		before := only(t, srv, "keeper")
		child.killHard(t)
		require.True(t, inspectContainer(t, engine, id).Container.State.Running, "the container outlives its client")
		child = startChildClient(t, clientDir, srv.Addr(), name)
		harness.WaitFor(t, srv, deadline, "the restarted client to report the task", func() bool {
			return only(t, srv, "keeper").ModifyIndex > before.ModifyIndex
		})
		a := only(t, srv, "keeper")
		require.Equal(t, structs.AllocClientRunning, a.ClientStatus, "restart %d", i+1)
		st := a.TaskStates["keeper"]
		require.Zero(t, st.Restarts, "reattached, not restarted")
		require.Len(t, events(st, structs.TaskEventStarted), 1)
		require.Equal(t, []string{id}, containersOf(t, engine, alloc.Id), "the same container, and no second one")
		c := inspectContainer(t, engine, id)
		require.True(t, c.Container.State.Running)
		require.Equal(t, startedAt, c.Container.State.StartedAt, "never restarted")
		require.Zero(t, c.Container.RestartCount)
	}

	// Stopped by the servers while no client ran: the next client stops
	// and removes the container.
	child.killHard(t)
	_, err := srv.DeregisterJob(t.Context(), "", "keeper", false)
	require.NoError(t, err)
	child = startChildClient(t, clientDir, srv.Addr(), "fourth")
	harness.WaitFor(t, srv, deadline, "the task to be stopped", func() bool {
		return only(t, srv, "keeper").ClientStatus == structs.AllocClientComplete
	})
	require.Eventually(t, func() bool { return len(containersOf(t, engine, alloc.Id)) == 0 }, deadline, 50*time.Millisecond,
		"the container of the stopped allocation is removed")
	child.stop(t)
}

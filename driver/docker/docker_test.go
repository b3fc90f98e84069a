package docker

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/internal/testing/dockertest"
	"github.com/droverhq/drover/structs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deadline bounds every wait of these tests.
const deadline = 60 * time.Second

// setup returns the engine, the test image and a driver closed when the
// test ends; it skips without an engine.
func setup(t *testing.T, cfg Config) (*client.Client, string, *Driver) {
	t.Helper()
	engine := dockertest.Engine(t)
	image := dockertest.Image(t, engine)
	d := New(cfg)
	t.Cleanup(func() { require.NoError(t, d.Close()) })
	return engine, image, d
}

// testTask is a task laid out as the client lays tasks out.
func testTask(t *testing.T, name, image string, args ...string) *driver.TaskConfig {
	t.Helper()
	allocID := "a" + strconv.FormatInt(time.Now().UnixNano(), 36)
	root := filepath.Join(t.TempDir(), allocID)
	taskDir := filepath.Join(root, name)
	allocDir := filepath.Join(root, "alloc")
	for _, d := range []string{filepath.Join(taskDir, "local"), filepath.Join(taskDir, "secrets"), filepath.Join(allocDir, "logs")} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	env := (&driver.TaskEnv{AllocID: allocID, TaskName: name, AllocDir: allocDir, TaskDir: filepath.Join(taskDir, "local"),
		SecretsDir: filepath.Join(taskDir, "secrets"), Env: map[string]string{"GREETING": "hello"}}).Map()
	return &driver.TaskConfig{
		ID: allocID + "/" + name, AllocID: allocID, TaskName: name, JobID: "job", TaskGroup: "group",
		Config: map[string]any{"image": image, "args": a}, Env: env, TaskDir: taskDir, AllocDir: allocDir,
		StdoutPath: filepath.Join(allocDir, "logs", name+".stdout.0"), StderrPath: filepath.Join(allocDir, "logs", name+".stderr.0"),
		Resources: &structs.Resources{CpuMhz: 250, MemoryMb: 64}, KillTimeout: 5 * time.Second,
	}
}

func start(t *testing.T, d *Driver, cfg *driver.TaskConfig) *driver.TaskHandle {
	t.Helper()
	h, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.DestroyTask(cfg.ID, true) })
	return h
}

func wait(t *testing.T, d *Driver, id string) *driver.ExitResult {
	t.Helper()
	ch, err := d.WaitTask(context.Background(), id)
	require.NoError(t, err)
	select {
	case res, ok := <-ch:
		require.True(t, ok)
		return res
	case <-time.After(deadline):
		t.Fatal("task did not exit")
		return nil
	}
}

func containerOf(t *testing.T, h *driver.TaskHandle) string {
	t.Helper()
	st := handleState{}
	require.NoError(t, json.Unmarshal(h.State, &st))
	return st.ContainerID
}

func inspect(t *testing.T, engine *client.Client, id string) client.ContainerInspectResult {
	t.Helper()
	c, err := engine.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	require.NoError(t, err)
	return c
}

func requireGone(t *testing.T, engine *client.Client, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := engine.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
		return err != nil && strings.Contains(strings.ToLower(err.Error()), "no such container")
	}, deadline, 50*time.Millisecond, "container %s is removed", id)
}

func waitForLog(t *testing.T, path, want string) {
	t.Helper()
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), want)
	}, deadline, 20*time.Millisecond, "%s says %q", path, want)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestFingerprintReportsTheEngine(t *testing.T) {
	engine, _, d := setup(t, Config{})
	fp := d.Fingerprint(context.Background())
	require.True(t, fp.Detected)
	require.True(t, fp.Healthy, fp.HealthDescription)
	v, err := engine.ServerVersion(context.Background(), client.ServerVersionOptions{})
	require.NoError(t, err)
	require.Equal(t, v.Version, fp.Attributes["driver.docker.version"])
	require.Equal(t, "1", fp.Attributes["driver.docker"])
	require.Equal(t, "false", fp.Attributes["driver.docker.privileged.enabled"])
	require.NotEmpty(t, fp.Attributes["driver.docker.api_version"])
	t.Logf("attributes: %v", fp.Attributes)
}

func TestContainerServesOnItsMappedPortWithItsEnvLimitsAndLogs(t *testing.T) {
	engine, image, d := setup(t, Config{})
	cfg := testTask(t, "web", image, "serve")
	hostPort := freePort(t)
	cfg.Ports = []driver.Port{{Label: "http", HostIP: "127.0.0.1", Value: hostPort, To: 8080}}
	cfg.Env["PORT"] = "8080"
	cfg.Config["ports"] = []any{"http"}
	cfg.Config["labels"] = []any{map[string]any{"team": "edge"}}
	h := start(t, d, cfg)
	require.Equal(t, Name, h.Driver)
	require.Positive(t, h.PID)

	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(hostPort) + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return true
	}, deadline, 50*time.Millisecond, "the container answers on its host port")
	require.Equal(t, "hello from "+cfg.AllocID+"\n", body, "with the task's environment")

	c := inspect(t, engine, containerOf(t, h))
	require.Equal(t, ContainerName(cfg), strings.TrimPrefix(c.Container.Name, "/"))
	require.Equal(t, int64(64<<20), c.Container.HostConfig.Memory, "the task's memory is the container's limit")
	require.Zero(t, c.Container.HostConfig.MemoryReservation)
	require.Equal(t, int64(250), c.Container.HostConfig.CPUShares)
	require.Equal(t, cfg.AllocID, c.Container.Config.Labels[LabelAllocID])
	require.Equal(t, cfg.ID, c.Container.Config.Labels[LabelTaskID])
	require.Equal(t, "edge", c.Container.Config.Labels["team"])
	require.Contains(t, c.Container.Config.Env, "NOMAD_TASK_DIR=/local")
	require.Contains(t, c.Container.Config.Env, "NOMAD_ALLOC_DIR=/alloc")
	require.Contains(t, c.Container.Config.Env, "GREETING=hello")
	targets := map[string]string{}
	for _, m := range c.Container.Mounts {
		targets[m.Destination] = m.Source
	}
	require.Equal(t, filepath.Join(cfg.TaskDir, "local"), targets["/local"])
	require.Equal(t, cfg.AllocDir, targets["/alloc"])

	waitForLog(t, cfg.StdoutPath, "listening on 8080")
	waitForLog(t, cfg.StderrPath, "task serve on stderr")
	require.NoError(t, d.StopTask(context.Background(), cfg.ID, 10*time.Second, ""))
	res := wait(t, d, cfg.ID)
	require.True(t, res.Successful(), "the image's stop signal (SIGTERM) ended it cleanly: %+v", res)
	require.NoError(t, d.DestroyTask(cfg.ID, false))
	requireGone(t, engine, containerOf(t, h))
	stdout, err := os.ReadFile(cfg.StdoutPath)
	require.NoError(t, err)
	require.Equal(t, "task serve starting\nlistening on 8080\ngot terminated\n", string(stdout),
		"every line, once, before the exit was delivered")
}

func TestMemoryMaxIsTheLimitAndMemoryTheReservation(t *testing.T) {
	engine, image, d := setup(t, Config{})
	cfg := testTask(t, "over", image)
	cfg.Resources.MemoryMaxMb = 128
	h := start(t, d, cfg)
	c := inspect(t, engine, containerOf(t, h))
	require.Equal(t, int64(128<<20), c.Container.HostConfig.Memory)
	require.Equal(t, int64(64<<20), c.Container.HostConfig.MemoryReservation)
	require.NoError(t, d.DestroyTask(cfg.ID, true))
}

// TestOOMKillIsReported: a task over its memory limit is killed, and the
// driver reports an OOM kill whenever the engine recorded one. The engine
// does not always record it (under cgroup v2 the kernel's event can be
// lost when the container's cgroup goes away at once); such a run checks
// only that the driver did not report what the engine did not see.
func TestOOMKillIsReported(t *testing.T) {
	engine, image, d := setup(t, Config{})
	cfg := testTask(t, "hog", image, "hog", "256")
	cfg.Resources.MemoryMb = 32
	h := start(t, d, cfg)
	res := wait(t, d, cfg.ID)
	require.Equal(t, 137, res.ExitCode, "killed: %+v", res)
	recorded := inspect(t, engine, containerOf(t, h)).Container.State.OOMKilled
	if recorded || res.Err != nil {
		require.ErrorIs(t, res.Err, driver.ErrOOMKilled, "%+v", res)
		require.True(t, recorded, "reported an OOM kill the engine did not record")
	} else {
		t.Log("the engine did not record this OOM kill; the driver reported none either")
	}
	require.NoError(t, d.DestroyTask(cfg.ID, false))
}

func TestAMissingImageFailsTheStartAndSaysSo(t *testing.T) {
	_, _, d := setup(t, Config{})
	cfg := testTask(t, "missing", dockertest.Repository+":no-such-tag")
	cfg.Config["image_pull_timeout"] = "20s"
	_, err := d.StartTask(context.Background(), cfg)
	require.ErrorContains(t, err, `image "`+dockertest.Repository+`:no-such-tag" is not on this host and could not be pulled`)
	require.NotErrorIs(t, err, driver.ErrInvalidConfig, "a registry may have it later: the restart policy decides")
	_, err = d.WaitTask(context.Background(), cfg.ID)
	require.ErrorIs(t, err, driver.ErrTaskNotFound, "nothing is held for the task")
}

func TestStopEscalatesToSIGKILLAfterTheKillTimeout(t *testing.T) {
	_, image, d := setup(t, Config{})
	cfg := testTask(t, "stubborn", image, "ignore-term")
	start(t, d, cfg)
	waitForLog(t, cfg.StdoutPath, "task ignore-term starting")
	const killTimeout = 500 * time.Millisecond
	began := time.Now()
	require.NoError(t, d.StopTask(context.Background(), cfg.ID, killTimeout, "SIGTERM"))
	require.GreaterOrEqual(t, time.Since(began), killTimeout)
	res := wait(t, d, cfg.ID)
	require.Equal(t, 137, res.ExitCode)
	require.Equal(t, 9, res.Signal)
	require.NoError(t, d.DestroyTask(cfg.ID, false))
}

func TestANewDriverReattachesToTheSameContainerAndItsLogs(t *testing.T) {
	engine, image, first := setup(t, Config{})
	cfg := testTask(t, "keep", image, "sleep")
	h := start(t, first, cfg)
	id := containerOf(t, h)
	waitForLog(t, cfg.StdoutPath, "task sleep starting")
	startedAt := inspect(t, engine, id).Container.State.StartedAt
	require.NoError(t, first.Close(), "the client goes away, the container stays")

	second := New(Config{})
	defer second.Close()
	require.NoError(t, second.RecoverTask(h))
	require.NoError(t, second.RecoverTask(h), "recovering a task already held is a no-op")
	c := inspect(t, engine, id)
	require.True(t, c.Container.State.Running)
	require.Equal(t, startedAt, c.Container.State.StartedAt, "the very same container, never restarted")
	require.Zero(t, c.Container.RestartCount)
	require.NoError(t, second.StopTask(context.Background(), cfg.ID, 10*time.Second, "SIGINT"))
	require.True(t, wait(t, second, cfg.ID).Successful())
	require.NoError(t, second.DestroyTask(cfg.ID, false))
	requireGone(t, engine, id)
	stdout, err := os.ReadFile(cfg.StdoutPath)
	require.NoError(t, err)
	require.Equal(t, "task sleep starting\ngot interrupt\n", string(stdout), "the copy resumed where it stopped")

	require.ErrorIs(t, second.RecoverTask(h), driver.ErrTaskNotFound, "a removed container is not found")
	bad := *h
	bad.ID = "someone/else"
	require.ErrorIs(t, second.RecoverTask(&bad), driver.ErrTaskNotFound)
}

func TestAStartReplacesAContainerLeftByAnEarlierRun(t *testing.T) {
	engine, image, first := setup(t, Config{})
	cfg := testTask(t, "twice", image, "sleep")
	old := containerOf(t, start(t, first, cfg))
	require.NoError(t, first.Close())

	second := New(Config{})
	defer second.Close()
	h := start(t, second, cfg)
	require.NotEqual(t, old, containerOf(t, h))
	requireGone(t, engine, old)
	require.NoError(t, second.DestroyTask(cfg.ID, true))
}

func TestImagesNoTaskUsesAreRemovedAfterTheDelay(t *testing.T) {
	engine := dockertest.Engine(t)
	image := dockertest.ImageTagged(t, engine, "gc-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	const delay = time.Minute
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d := New(Config{GC: GCConfig{ImageDelay: delay}, Clock: clk})
	defer d.Close()
	a, b := testTask(t, "a", image), testTask(t, "b", image)
	start(t, d, a)
	start(t, d, b)
	img, err := engine.ImageInspect(context.Background(), image)
	require.NoError(t, err)
	require.Equal(t, 2, d.images.count(img.ID))

	require.NoError(t, d.DestroyTask(a.ID, true))
	require.Equal(t, 1, d.images.count(img.ID))
	require.False(t, d.images.pending(img.ID), "no removal is scheduled while a task uses the image")
	clk.Advance(10 * delay)
	clk.Wait()
	_, err = engine.ImageInspect(context.Background(), image)
	require.NoError(t, err, "a task still uses the image, however long it waits")

	require.NoError(t, d.DestroyTask(b.ID, true))
	require.True(t, d.images.pending(img.ID), "the last user's release schedules the removal")
	clk.Advance(delay - time.Nanosecond)
	clk.Wait()
	_, err = engine.ImageInspect(context.Background(), image)
	require.NoError(t, err, "the image is kept for the whole delay")

	clk.Advance(time.Nanosecond)
	clk.Wait() // the removal has returned
	require.False(t, d.images.pending(img.ID))
	_, err = engine.ImageInspect(context.Background(), image)
	require.True(t, cerrdefs.IsNotFound(err), "the image is removed once no task used it for the delay; got %v", err)
}

func TestTheLocalImageIsUsedWithoutPulling(t *testing.T) {
	_, image, d := setup(t, Config{})
	cfg := testTask(t, "local", image, "exit", "3")
	start(t, d, cfg)
	res := wait(t, d, cfg.ID)
	require.Equal(t, 3, res.ExitCode)
	require.NoError(t, d.DestroyTask(cfg.ID, false))
	// force_pull asks the registry, which the test cannot reach.
	cfg = testTask(t, "forced", image, "exit", "0")
	cfg.Config["force_pull"] = true
	cfg.Config["image_pull_timeout"] = "20s"
	_, err := d.StartTask(context.Background(), cfg)
	require.ErrorContains(t, err, "could not be pulled")
}

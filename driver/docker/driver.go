package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/driver"
)

// engineTimeout bounds the engine calls that should be quick (inspect,
// kill, remove).
const engineTimeout = 30 * time.Second

// Driver is the docker driver. Its methods are safe for concurrent use.
// Close it once the client that uses it has shut down.
type Driver struct {
	cfg    Config
	logger *slog.Logger
	// engine is nil when the client could not be made (engineErr says why).
	engine    *client.Client
	engineErr error
	// detected: the engine answered once; a later silence is unhealthy.
	detected atomic.Bool
	tasks    driver.Tasks[*task]
	images   *imageRefs
}

var _ driver.Driver = (*Driver)(nil)

// New returns a docker driver configured by cfg. It does not contact the
// engine: Fingerprint says whether it answers.
func New(cfg Config) *Driver {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Clock = clock.Or(cfg.Clock)
	d := &Driver{cfg: cfg, logger: cfg.Logger.With("driver", Name)}
	d.images = newImageRefs(d)
	if err := cfg.Validate(); err != nil {
		d.engineErr = err
		return d
	}
	// The client negotiates the API version with the engine on its first
	// request (down to client.MinAPIVersion, 1.40).
	opts := []client.Opt{client.FromEnv}
	if cfg.Endpoint != "" {
		opts = append(opts, client.WithHost(cfg.Endpoint))
	}
	d.engine, d.engineErr = client.New(opts...)
	return d
}

// Close stops the driver's work on its tasks (watching them, copying
// their logs, collecting images) without stopping their containers, and
// closes its connections to the engine. A client restarted on the same
// data dir reattaches to the containers with a new driver.
func (d *Driver) Close() error {
	for _, t := range d.tasks.All() {
		t.detach()
		d.tasks.Delete(t.id)
	}
	d.images.close()
	if d.engine != nil {
		return d.engine.Close()
	}
	return nil
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return Name }

// Fingerprint implements driver.Driver: detected and healthy when the
// engine answers; unhealthy when an engine that answered before does not.
func (d *Driver) Fingerprint(ctx context.Context) driver.Fingerprint {
	if d.engine == nil {
		return driver.Fingerprint{HealthDescription: "docker: " + d.engineErr.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := d.engine.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		desc := "Docker is unavailable: " + err.Error()
		if !d.detected.Load() {
			return driver.Fingerprint{HealthDescription: desc}
		}
		return driver.Fingerprint{Detected: true, HealthDescription: desc,
			Attributes: map[string]string{"driver.docker": "1"}}
	}
	d.detected.Store(true)
	attrs := map[string]string{
		"driver.docker":                    "1",
		"driver.docker.version":            v.Version,
		"driver.docker.api_version":        d.engine.ClientVersion(),
		"driver.docker.os_type":            v.Os,
		"driver.docker.privileged.enabled": fmt.Sprint(d.cfg.AllowPrivileged),
		"driver.docker.volumes.enabled":    fmt.Sprint(d.cfg.Volumes.Enabled),
	}
	if info, err := d.engine.Info(ctx, client.InfoOptions{}); err == nil {
		runtimes := make([]string, 0, len(info.Info.Runtimes))
		for name := range info.Info.Runtimes {
			runtimes = append(runtimes, name)
		}
		sort.Strings(runtimes)
		attrs["driver.docker.runtimes"] = strings.Join(runtimes, ",")
		if info.Info.CgroupVersion != "" {
			attrs["driver.docker.cgroup.version"] = "v" + info.Info.CgroupVersion
		}
	}
	if n, err := d.engine.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{}); err == nil {
		for _, c := range n.Network.IPAM.Config {
			if c.Gateway.IsValid() {
				attrs["driver.docker.bridge_ip"] = c.Gateway.String()
				break
			}
		}
	}
	return driver.Fingerprint{Detected: true, Healthy: true, HealthDescription: "healthy", Attributes: attrs}
}

func (d *Driver) errorf(format string, args ...any) error {
	return fmt.Errorf("docker: "+format, args...)
}

func (d *Driver) get(id string) (*task, error) {
	t, err := d.tasks.Get(id)
	if err != nil {
		return nil, d.errorf("%w", err)
	}
	return t, nil
}

// StartTask implements driver.Driver: it makes the image available (a
// local one, else pulled), replaces a container left from an earlier run
// of the task, creates and starts the container and begins copying its
// logs. A config the driver or the plugin refuses fails with
// driver.ErrInvalidConfig.
func (d *Driver) StartTask(ctx context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	if err := cfg.Validate(); err != nil {
		return nil, d.errorf("%w", err)
	}
	tc, err := parseTaskConfig(cfg.Config)
	if err != nil {
		return nil, d.errorf("%w", err)
	}
	opts, err := d.createOptions(cfg, tc)
	if err != nil {
		return nil, d.errorf("%w", err)
	}
	if d.engine == nil {
		return nil, d.errorf("%w", d.engineErr)
	}
	if !d.tasks.Reserve(cfg.ID) {
		return nil, d.errorf("task %s already started", cfg.ID)
	}
	h, t, err := d.start(ctx, cfg, tc, opts)
	if err != nil {
		d.tasks.Release(cfg.ID)
		return nil, d.errorf("%w", err)
	}
	d.tasks.Fill(cfg.ID, t)
	d.logger.Debug("container started", "task", cfg.ID, "container", t.containerID, "image", tc.image)
	return h, nil
}

// start does StartTask's work once the task's id is reserved.
func (d *Driver) start(ctx context.Context, cfg *driver.TaskConfig, tc *taskConfig, opts client.ContainerCreateOptions) (*driver.TaskHandle, *task, error) {
	imageID, err := d.ensureImage(ctx, tc)
	if err != nil {
		return nil, nil, err
	}
	d.images.use(imageID, cfg.ID)
	started := false
	defer func() {
		if !started {
			d.images.release(imageID, cfg.ID)
		}
	}()
	if err := d.removeLeftover(ctx, opts.Name); err != nil {
		return nil, nil, err
	}
	created, err := d.engine.ContainerCreate(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("create container for %s: %w", tc.image, err)
	}
	st := &handleState{
		ContainerID: created.ID, Name: opts.Name, Image: tc.image, ImageID: imageID,
		Stdout: cfg.StdoutPath, Stderr: cfg.StderrPath, Cursor: cursorPath(cfg.TaskDir),
	}
	if _, err := d.engine.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		d.removeContainer(created.ID)
		return nil, nil, fmt.Errorf("start container for %s: %w", tc.image, err)
	}
	inspect, err := d.engine.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	if err != nil {
		d.removeContainer(created.ID)
		return nil, nil, fmt.Errorf("inspect started container: %w", err)
	}
	t := d.newTask(cfg.ID, st)
	t.stopSignal = inspect.Container.Config.StopSignal
	// Every line from the start: the engine keeps what was logged before
	// the copy began.
	t.startLogs(time.Time{})
	t.watch()
	started = true
	h := &driver.TaskHandle{ID: cfg.ID, Driver: Name, StartedAt: time.Now(), Warnings: created.Warnings}
	if inspect.Container.State != nil {
		h.PID = inspect.Container.State.Pid
	}
	if h.State, err = json.Marshal(st); err != nil {
		return nil, nil, fmt.Errorf("encode handle: %w", err)
	}
	return h, t, nil
}

// removeLeftover removes a container of the task's name: one an earlier
// run of the task left (a client that died before recording its handle,
// or a handle that could not be recovered), so a task never has two.
func (d *Driver) removeLeftover(ctx context.Context, name string) error {
	c, err := d.engine.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look for a container named %s: %w", name, err)
	}
	d.logger.Info("removing a container left from an earlier run of the task", "container", c.Container.ID, "name", name)
	if _, err := d.engine.ContainerRemove(ctx, c.Container.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove the container left from an earlier run: %w", err)
	}
	return nil
}

// removeContainer removes a container, unless the plugin keeps them.
func (d *Driver) removeContainer(id string) {
	if d.cfg.GC.KeepContainers {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	_, err := d.engine.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		d.logger.Warn("removing container", "container", id, "error", err)
	}
}

// WaitTask implements driver.Driver.
func (d *Driver) WaitTask(ctx context.Context, taskID string) (<-chan *driver.ExitResult, error) {
	t, err := d.get(taskID)
	if err != nil {
		return nil, err
	}
	return t.exit.Wait(ctx), nil
}

// StopTask implements driver.Driver: it sends signal (for "", the
// image's stop signal, else SIGTERM) to the container and, if it has not
// exited after timeout (0 means driver.DefaultKillTimeout), SIGKILL.
func (d *Driver) StopTask(ctx context.Context, taskID string, timeout time.Duration, signal string) error {
	t, err := d.get(taskID)
	if err != nil {
		return err
	}
	if signal == "" {
		signal = t.stopSignal
	}
	if signal == "" {
		signal = "SIGTERM"
	}
	sig, err := driver.ParseSignal(signal)
	if err != nil {
		return d.errorf("stop %s: %w", taskID, err)
	}
	if timeout <= 0 {
		timeout = driver.DefaultKillTimeout
	}
	if t.exit.Result() != nil {
		return nil
	}
	if err := t.kill(ctx, int(sig)); err != nil {
		return d.errorf("signal %s: %w", taskID, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.exit.Done():
		return nil
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.logger.Debug("kill timeout reached, killing container", "task", taskID, "timeout", timeout)
	if err := t.kill(ctx, 9); err != nil {
		return d.errorf("kill %s: %w", taskID, err)
	}
	select {
	case <-t.exit.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DestroyTask implements driver.Driver: it kills a running container
// (with force), stops copying its logs once they are all copied, removes
// the container and releases its image.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	t, err := d.tasks.Remove(taskID, func(t *task) error {
		if !force && t.exit.Result() == nil {
			return fmt.Errorf("task %s: %w", taskID, driver.ErrTaskRunning)
		}
		return nil
	})
	if err != nil {
		return d.errorf("%w", err)
	}
	if t.exit.Result() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
		if err := t.kill(ctx, 9); err != nil {
			d.logger.Warn("killing container", "task", taskID, "error", err)
		}
		select {
		case <-t.exit.Done():
		case <-ctx.Done():
			d.logger.Warn("container did not exit after SIGKILL", "task", taskID, "container", t.containerID)
		}
		cancel()
	}
	t.detach()
	d.removeContainer(t.containerID)
	d.images.release(t.imageID, taskID)
	return nil
}

// handleState is what TaskHandle.State holds.
type handleState struct {
	ContainerID string `json:"container_id"`
	Name        string `json:"name"`
	Image       string `json:"image"`
	ImageID     string `json:"image_id"`
	// Stdout and Stderr are the task's log files; Cursor the file that
	// records how far the container's logs were copied.
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Cursor string `json:"log_cursor"`
}

// RecoverTask implements driver.Driver: it finds the container the handle
// recorded, checks that its labels name the task, and watches it and
// copies its logs again, from where the copy stopped. A container that
// exited meanwhile is reattached too, and delivers its exit at once. A
// container that is gone (or an engine that does not answer) is
// driver.ErrTaskNotFound.
func (d *Driver) RecoverTask(h *driver.TaskHandle) error {
	if h == nil || h.ID == "" {
		return d.errorf("empty handle: %w", driver.ErrTaskNotFound)
	}
	if h.Driver != "" && h.Driver != Name {
		return d.errorf("handle of %s is for driver %q: %w", h.ID, h.Driver, driver.ErrTaskNotFound)
	}
	var st handleState
	if err := json.Unmarshal(h.State, &st); err != nil || st.ContainerID == "" {
		return d.errorf("handle of %s records no container: %w", h.ID, driver.ErrTaskNotFound)
	}
	if d.engine == nil {
		return d.errorf("%v: %w", d.engineErr, driver.ErrTaskNotFound)
	}
	if !d.tasks.Reserve(h.ID) {
		return nil // already held
	}
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	c, err := d.engine.ContainerInspect(ctx, st.ContainerID, client.ContainerInspectOptions{})
	if err != nil {
		d.tasks.Release(h.ID)
		return d.errorf("container %s of %s: %v: %w", st.ContainerID, h.ID, err, driver.ErrTaskNotFound)
	}
	if c.Container.Config == nil || c.Container.Config.Labels[LabelTaskID] != h.ID {
		d.tasks.Release(h.ID)
		return d.errorf("container %s is not %s's: %w", st.ContainerID, h.ID, driver.ErrTaskNotFound)
	}
	t := d.newTask(h.ID, &st)
	t.stopSignal = c.Container.Config.StopSignal
	d.images.use(st.ImageID, h.ID)
	t.startLogs(loadCursor(st.Cursor))
	t.watch()
	d.tasks.Fill(h.ID, t)
	d.logger.Debug("reattached to container", "task", h.ID, "container", st.ContainerID)
	return nil
}

// isGone reports an engine error saying a container is not there or not
// running, which a kill or a stop can ignore.
func isGone(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) || cerrdefs.IsNotModified(err) ||
		err != nil && slices.ContainsFunc([]string{"is not running", "No such container"}, func(s string) bool {
			return strings.Contains(err.Error(), s)
		})
}

var errContainerGone = errors.New("the container was removed")

// Isolated reports that a container has a root of its own, where the
// task's directories are mounted at /alloc, /local and /secrets.
func (d *Driver) Isolated() bool { return true }

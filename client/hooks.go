package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/droverhq/drover/client/interpolate"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/internal/safepath"
	"github.com/droverhq/drover/structs"
)

// A task goes through hooks in a fixed order. The allocation's runner
// first creates the allocation directory (allocDir); then, before every
// start of a task, restarts included, its runner applies the prestart
// hooks below in order; then it starts the task, waits for it, and stops
// it when asked. A failing prestart hook fails that start: the task's
// restart policy decides what happens next.

// prestartHook prepares a task's config before a start.
type prestartHook interface {
	name() string
	prestart(ctx context.Context, t *taskRunner, cfg *driver.TaskConfig) error
}

// prestartHooks are applied in this order.
var prestartHooks = []prestartHook{taskDirHook{}, envHook{}, identityHook{}, volumeHook{}, artifactHook{}, dispatchPayloadHook{}, templateHook{}}

// allocDirs are created under an allocation's directory, in this order:
// alloc/ is shared by its tasks (their logs are in alloc/logs).
var allocDirs = []string{"alloc", "alloc/logs", "alloc/data", "alloc/tmp"}

// makeDir creates the allocation's directory, checking each path before
// it is created: nothing is made outside the data dir.
func (r *allocRunner) makeDir(id string) error {
	if r.dirErr != nil {
		return r.dirErr
	}
	// Checked again: a link may have appeared since the runner was made.
	dir, err := allocDirFor(r.c.cfg.DataDir, id)
	if err != nil {
		return err
	}
	if err := makeDirMode(dir, allocDirMode, r.c.logger); err != nil {
		return fmt.Errorf("create allocation dir: %w", err)
	}
	for _, d := range allocDirs {
		p, err := safepath.Join(dir, d)
		if err != nil {
			return err
		}
		if err := makeDirMode(p, sharedDirMode, r.c.logger); err != nil {
			return fmt.Errorf("create allocation dir: %w", err)
		}
	}
	return nil
}

// taskDirHook creates the task's directory: its root is the working
// directory, local/ its private files, secrets/ (0700) its secrets, tmp/
// its scratch space (see perms.go for the modes). It checks the task's paths again first, since a task
// may have changed its directories since the last start.
type taskDirHook struct{}

func (taskDirHook) name() string { return "task dir" }

func (taskDirHook) prestart(_ context.Context, t *taskRunner, cfg *driver.TaskConfig) error {
	paths, err := taskPathsFor(t.ar.dir, t.task.Name)
	if err != nil {
		return &hookError{event: structs.TaskEventSetupFailure, err: err}
	}
	if paths != t.paths {
		return &hookError{event: structs.TaskEventSetupFailure, err: errors.New("the task's paths changed")}
	}
	for _, d := range []struct {
		sub  string
		mode os.FileMode
	}{{".", taskDirMode}, {"local", taskDirMode}, {"tmp", taskTmpMode}, {"secrets", secretsDirMode}} {
		p, err := safepath.Join(cfg.TaskDir, d.sub)
		if err != nil {
			return &hookError{event: structs.TaskEventSetupFailure, err: err}
		}
		if err := makeDirMode(p, d.mode, t.log); err != nil {
			return fmt.Errorf("create task dir: %w", err)
		}
	}
	return nil
}

// envHook builds the task's environment, then interpolates the task's
// driver config with it (see client/interpolate): the env block and the
// meta values are interpolated first, with the variables the client
// sets and the node's, so the whole environment and the config see their
// values.
type envHook struct{}

func (envHook) name() string { return "environment" }

func (envHook) prestart(_ context.Context, t *taskRunner, cfg *driver.TaskConfig) error {
	node := t.ar.c.nodeCopy()
	e := driver.TaskEnv{
		AllocID: t.alloc.Id, AllocName: t.alloc.Name, AllocIndex: allocIndex(t.alloc.Name),
		AllocDir: filepath.Join(t.ar.dir, "alloc"), TaskDir: filepath.Join(cfg.TaskDir, "local"),
		SecretsDir: filepath.Join(cfg.TaskDir, "secrets"), TaskName: t.task.Name, GroupName: t.tg.Name,
		JobID: t.alloc.JobId, JobName: t.alloc.GetJob().GetName(), Namespace: t.alloc.Namespace,
		Region: t.ar.c.cfg.Region, Datacenter: node.Datacenter, NodeID: node.Id, NodeName: node.Name,
		NodeClass: node.NodeClass, CPULimit: t.task.GetResources().GetCpuMhz(),
		MemoryLimit: t.task.GetResources().GetMemoryMb(),
		Ports:       allocPorts(t.alloc, node),
	}
	base := interpolate.Vars{Env: e.Map(), Node: interpolate.NodeVars(node, t.ar.c.cfg.Region)}
	meta := map[string]string{}
	for _, m := range []map[string]string{t.alloc.GetJob().GetMeta(), t.tg.GetMeta(), t.task.GetMeta()} {
		for k, v := range m {
			meta[k] = base.String(v)
		}
	}
	e.Meta = meta
	base.Env = e.Map()
	e.Env = base.Map(t.task.Env)
	cfg.Env = e.Map()
	cfg.Ports = e.Ports
	t.nodeVars = base.Node
	t.interpolateConfig(cfg)
	return nil
}

// interpolateConfig interpolates the task's driver config with cfg.Env
// and sets t.vars for the task's other fields.
func (t *taskRunner) interpolateConfig(cfg *driver.TaskConfig) {
	t.vars = interpolate.Vars{Env: cfg.Env, Node: t.nodeVars}
	inTask := t.vars
	if ownRoot(t.drv) {
		// The task sees its directories where its root mounts them.
		inTask.Env = driver.EnvInOwnRoot(cfg.Env)
	}
	cfg.Config = inTask.Config(t.task.GetConfig().AsMap())
}

// ownRoot reports whether the driver gives its tasks a root of their own
// (exec when it isolates, docker), where their directories are mounted
// at /alloc, /local and /secrets.
func ownRoot(d driver.Driver) bool {
	if i, ok := d.(interface{ Isolated() bool }); ok {
		return i.Isolated()
	}
	return false
}

// allocPorts are the ports the servers assigned to the allocation, on the
// node's address.
func allocPorts(a *structs.Allocation, node *structs.Node) []driver.Port {
	ip := node.GetAttributes()["unique.network.ip-address"]
	if ip == "" {
		ip = "127.0.0.1"
	}
	var out []driver.Port
	for _, p := range a.GetAllocatedPorts() {
		out = append(out, driver.Port{Label: p.Label, HostIP: ip, Value: int(p.Value), To: int(p.To)})
	}
	return out
}

// allocIndex reads the index of an allocation named "job.group[i]".
func allocIndex(name string) int {
	i := strings.LastIndexByte(name, '[')
	if i < 0 || !strings.HasSuffix(name, "]") {
		return 0
	}
	n, err := strconv.Atoi(name[i+1 : len(name)-1])
	if err != nil {
		return 0
	}
	return n
}

// artifactHook fetches the task's artifacts into its directory, once: a
// restart does not fetch them again.
type artifactHook struct{}

func (artifactHook) name() string { return "artifacts" }

func (artifactHook) prestart(ctx context.Context, t *taskRunner, cfg *driver.TaskConfig) error {
	arts := t.task.GetArtifacts()
	if len(arts) == 0 || t.artifactsDone {
		return nil
	}
	t.event(structs.TaskEventDownloadingArtifacts, "client is downloading artifacts", nil)
	t.publish()
	for _, a := range arts {
		a = &structs.Artifact{
			Source: t.vars.String(a.GetSource()), Options: t.vars.Map(a.GetOptions()),
			Destination: inTaskDir(cfg.TaskDir, t.vars.String(a.GetDestination())),
		}
		if err := t.ar.c.artifacts.Fetch(ctx, a, cfg.TaskDir); err != nil {
			return &hookError{event: structs.TaskEventArtifactDownloadFailed,
				err: fmt.Errorf("artifact %q: %w", a.GetSource(), err)}
		}
	}
	t.artifactsDone = true
	return nil
}

// hookError is a prestart failure with the task event that reports it.
type hookError struct {
	event string
	err   error
}

func (e *hookError) Error() string { return e.err.Error() }
func (e *hookError) Unwrap() error { return e.err }

// inTaskDir turns an absolute path inside taskDir (what an interpolated
// ${NOMAD_TASK_DIR}/x gives on the client) into one relative to it;
// anything else is returned as it is, for the caller's checks to refuse
// when it leads outside.
func inTaskDir(taskDir, p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	rel, err := filepath.Rel(taskDir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	return rel
}

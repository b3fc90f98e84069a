package exec

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/isolate"
	"github.com/droverhq/drover/driver/internal/proc"
	"github.com/droverhq/drover/internal/cgroup"
)

// isolation is the exec driver's proc.Isolation: a cgroup per task, when
// there is a hierarchy to make it in, and a root and namespaces of its
// own, when the client runs as root.
type isolation struct {
	v2 *cgroup.Manager   // nil: no v2 groups
	v1 *cgroup.V1Manager // nil: no v1 groups
	// limitsWhy says why limits are not enforced; "" when they are.
	limitsWhy string
	chroot    bool
	// chrootWhy says why tasks are not isolated; "" when they are.
	chrootWhy string
	chrootEnv map[string]string
}

// groupState is what a handle records of a task's confinement.
type groupState struct {
	Path string            `json:"cgroup,omitempty"`
	V1   map[string]string `json:"cgroup_v1,omitempty"`
	// Isolated: the handle's pid is the task's init.
	Isolated bool `json:"isolated,omitempty"`
}

func (i *isolation) Prepare(cfg *driver.TaskConfig) (proc.Confinement, error) {
	c := &confinement{warn: i.warnings()}
	var err error
	if i.chroot {
		if c.spec, err = i.spec(cfg); err != nil {
			return nil, err
		}
	} else if len(cfg.Mounts) > 0 {
		return nil, fmt.Errorf("%w: exec mounts volumes only in a root of its own, which this host cannot give tasks (%s)",
			driver.ErrInvalidConfig, i.chrootWhy)
	} else if c.cred, err = credential(cfg.User); err != nil {
		return nil, err
	}
	limits := cgroup.Limits{
		CPUMHz: cfg.Resources.GetCpuMhz(), MemoryMB: cfg.Resources.GetMemoryMb(), MemoryMaxMB: cfg.Resources.GetMemoryMaxMb(),
	}
	switch {
	case i.v1 != nil:
		if c.v1, err = i.v1.Create(cgroup.Name(cfg.ID), limits); err != nil {
			return nil, err
		}
		c.spec.CgroupProcs = c.v1.ProcsFiles()
		c.oomBefore, _ = c.v1.OOMKills()
	case i.v2 != nil:
		if c.v2, err = i.v2.Create(cgroup.Name(cfg.ID), limits); err != nil {
			return nil, err
		}
		if i.limitsWhy == "" {
			c.oomBefore, _ = c.v2.OOMKills()
		}
	}
	return c, nil
}

func (i *isolation) warnings() []string {
	var w []string
	if i.limitsWhy != "" {
		w = append(w, "cpu and memory limits are not enforced: "+i.limitsWhy)
	}
	if !i.chroot {
		w = append(w, "the task runs without a chroot and namespaces of its own: "+i.chrootWhy)
	}
	return w
}

func (i *isolation) Reopen(state json.RawMessage) (proc.Confinement, error) {
	var st groupState
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("cgroup state: %w", err)
	}
	c := &confinement{}
	// Never adopt a group outside drover's parent: a stop kills it all.
	if st.Path != "" {
		if i.v2 == nil || filepath.Dir(filepath.Clean(st.Path)) != i.v2.Dir {
			return nil, fmt.Errorf("cgroup %s is not one of this driver's", st.Path)
		}
		c.v2 = &cgroup.Group{Path: filepath.Clean(st.Path)}
	}
	if len(st.V1) > 0 {
		c.v1 = &cgroup.V1Group{Dirs: map[string]string{}}
		for ctrl, dir := range st.V1 {
			if i.v1 == nil || filepath.Dir(filepath.Clean(dir)) != i.v1.Dirs[ctrl] {
				return nil, fmt.Errorf("cgroup %s is not one of this driver's", dir)
			}
			c.v1.Dirs[ctrl] = filepath.Clean(dir)
		}
	}
	return c, nil
}

// confinement is one task's cgroup (v2 or v1, or none) and, for an
// isolated task, the init that sets up its root.
type confinement struct {
	v2   *cgroup.Group
	v1   *cgroup.V1Group
	fd   *os.File // the v2 group, for CLONE_INTO_CGROUP
	spec *isolate.Spec
	// launch is the isolated task's init, once started.
	launch *isolate.Launch
	// cred is who a task without isolation runs as; nil: the client's user.
	cred      *syscall.Credential
	oomBefore int
	warn      []string
}

func (c *confinement) OwnRoot() bool { return c.spec != nil }

func (c *confinement) Apply(cmd *exec.Cmd) error {
	if c.v2 != nil {
		f, err := c.v2.Open()
		if err != nil {
			return err
		}
		c.fd = f
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(f.Fd())
	}
	if c.spec == nil {
		cmd.SysProcAttr.Credential = c.cred
		return nil
	}
	c.spec.Command, c.spec.Args = cmd.Args[0], cmd.Args[1:]
	cmd.Env = envInRoot(cmd.Env)
	l, err := isolate.Wrap(cmd, c.spec)
	if err != nil {
		return err
	}
	c.launch = l
	return nil
}

// envInRoot points the task's directory variables at their mounts.
func envInRoot(env []string) []string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	m = driver.EnvInOwnRoot(m)
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

func (c *confinement) Started(startErr error) error {
	if c.fd != nil {
		c.fd.Close()
		c.fd = nil
	}
	if c.launch != nil {
		return c.launch.Started(startErr)
	}
	return nil
}

func (c *confinement) Exited(res *driver.ExitResult) *driver.ExitResult {
	if c.launch != nil {
		if code, sig, ok := c.launch.Exit(); ok {
			res = &driver.ExitResult{ExitCode: code, Signal: sig}
		}
	}
	if !res.Successful() && c.oomKilled() {
		res.Err = driver.ErrOOMKilled
	}
	return res
}

// oomKilled reports whether the kernel killed a process of the task for
// its memory since the task started.
func (c *confinement) oomKilled() bool {
	var n int
	var err error
	switch {
	case c.v1 != nil:
		n, err = c.v1.OOMKills()
	case c.v2 != nil:
		n, err = c.v2.OOMKills()
	default:
		return false
	}
	return err == nil && n > c.oomBefore
}

func (c *confinement) KillAll() error {
	switch {
	case c.v1 != nil:
		return c.v1.Kill()
	case c.v2 != nil:
		return c.v2.Kill()
	}
	return nil
}

func (c *confinement) Release() error {
	if c.launch != nil {
		c.launch.Close()
	}
	switch {
	case c.v1 != nil:
		return c.v1.Remove()
	case c.v2 != nil:
		return c.v2.Remove()
	}
	return nil
}

func (c *confinement) State() json.RawMessage {
	st := groupState{Isolated: c.spec != nil}
	if c.v2 != nil {
		st.Path = c.v2.Path
	}
	if c.v1 != nil {
		st.V1 = c.v1.Dirs
	}
	b, _ := json.Marshal(st)
	return b
}

func (c *confinement) Warnings() []string { return c.warn }

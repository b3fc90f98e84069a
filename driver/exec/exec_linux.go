package exec

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/proc"
	"github.com/droverhq/drover/internal/cgroup"
)

// ErrExitStatusUnknown is the Err of the exit result of a reattached task:
// it ended, but how is unknown.
var ErrExitStatusUnknown = proc.ErrExitStatusUnknown

// Options configure the exec driver.
type Options struct {
	// Logger may be nil.
	Logger *slog.Logger
	// CgroupMount is the cgroup v2 mount to create task groups under;
	// "" finds it in the mount table.
	CgroupMount string
	// NoCgroups runs tasks without cgroups even where they are available.
	NoCgroups bool
}

// Driver is the exec driver. Its methods are safe for concurrent use; set
// PollInterval before calling RecoverTask.
type Driver struct {
	*proc.Driver
	iso *isolation
}

var _ driver.Driver = (*Driver)(nil)

// New returns an exec driver using the host's cgroup v2 hierarchy when it
// can; logger may be nil.
func New(logger *slog.Logger) *Driver { return NewWithOptions(Options{Logger: logger}) }

// NewWithOptions returns an exec driver configured by o.
func NewWithOptions(o Options) *Driver {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	iso := &isolation{}
	if !o.NoCgroups {
		mount := o.CgroupMount
		if mount == "" {
			mount = cgroup.Detect().V2
		}
		m, err := cgroup.NewManager(mount)
		if err != nil {
			iso.why = err.Error()
			o.Logger.Info("exec tasks run without cgroups", "reason", err)
		} else {
			iso.m = m
			if !m.Limits {
				iso.why = fmt.Sprintf("the cgroup v2 hierarchy at %s offers no cpu and memory controllers (it has %q)",
					filepath.Dir(m.Dir), strings.Join(m.Controllers, " "))
			}
		}
	} else {
		iso.why = "cgroups are turned off for this driver"
	}
	return &Driver{Driver: proc.New(proc.Options{Name: Name, Logger: o.Logger, Isolation: iso}), iso: iso}
}

// Fingerprint implements driver.Driver.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	attrs := map[string]string{"driver.exec": "1", "driver.exec.cgroup": "none", "driver.exec.limits": "none"}
	desc := "healthy; tasks run without cgroups and without cpu and memory limits: " + d.iso.why
	if d.iso.m != nil {
		attrs["driver.exec.cgroup"] = cgroup.V2
		if d.iso.m.Limits {
			attrs["driver.exec.limits"] = "cpu,memory"
			desc = "healthy; cpu and memory limits enforced through cgroup v2"
		} else {
			desc = "healthy; tasks run in cgroups but without cpu and memory limits: " + d.iso.why
		}
	}
	return driver.Fingerprint{Detected: true, Healthy: true, HealthDescription: desc, Attributes: attrs}
}

// Limited reports whether tasks get cpu and memory limits.
func (d *Driver) Limited() bool { return d.iso.m != nil && d.iso.m.Limits }

// isolation puts each task in a cgroup of its own, when there is a
// hierarchy to do it in.
type isolation struct {
	m   *cgroup.Manager // nil: no cgroups
	why string          // why limits are not enforced; "" when they are
}

// groupState is what a handle records of a task's cgroup.
type groupState struct {
	Path string `json:"cgroup"`
}

func (i *isolation) Prepare(cfg *driver.TaskConfig) (proc.Confinement, error) {
	if i.m == nil {
		return &group{warn: i.warning()}, nil
	}
	g, err := i.m.Create(cgroup.Name(cfg.ID), cgroup.Limits{
		CPUMHz: cfg.Resources.GetCpuMhz(), MemoryMB: cfg.Resources.GetMemoryMb(),
	})
	if err != nil {
		return nil, err
	}
	return &group{g: g, warn: i.warning()}, nil
}

func (i *isolation) warning() []string {
	if i.why == "" {
		return nil
	}
	return []string{"cpu and memory limits are not enforced: " + i.why}
}

func (i *isolation) Reopen(state json.RawMessage) (proc.Confinement, error) {
	var st groupState
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("cgroup state: %w", err)
	}
	if st.Path == "" {
		return &group{}, nil
	}
	// Never adopt a group outside drover's parent: a stop writes cgroup.kill.
	if i.m == nil || filepath.Dir(filepath.Clean(st.Path)) != i.m.Dir {
		return nil, fmt.Errorf("cgroup %s is not one of this driver's", st.Path)
	}
	return &group{g: &cgroup.Group{Path: filepath.Clean(st.Path)}}, nil
}

// group is one task's cgroup; g is nil when the task runs without one.
type group struct {
	g    *cgroup.Group
	fd   *os.File
	warn []string
}

func (c *group) Apply(attr *syscall.SysProcAttr) error {
	if c.g == nil {
		return nil
	}
	f, err := c.g.Open()
	if err != nil {
		return err
	}
	c.fd = f
	attr.UseCgroupFD = true
	attr.CgroupFD = int(f.Fd())
	return nil
}

func (c *group) Started() {
	if c.fd != nil {
		c.fd.Close()
		c.fd = nil
	}
}

func (c *group) KillAll() error {
	if c.g == nil {
		return nil
	}
	return c.g.Kill()
}

func (c *group) Release() error {
	if c.g == nil {
		return nil
	}
	return c.g.Remove()
}

func (c *group) State() json.RawMessage {
	if c.g == nil {
		return nil
	}
	b, _ := json.Marshal(groupState{Path: c.g.Path})
	return b
}

func (c *group) Warnings() []string { return c.warn }

// Cgroup returns the cgroup directory of a task the driver holds, or ""
// when it runs without one.
func (d *Driver) Cgroup(taskID string) string {
	if d.iso.m == nil {
		return ""
	}
	return filepath.Join(d.iso.m.Dir, cgroup.Name(taskID))
}

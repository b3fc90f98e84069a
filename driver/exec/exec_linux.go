package exec

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/isolate"
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
	// ChrootEnv maps host paths to where they appear in each task's root
	// (the client's chroot_env); nil takes DefaultChrootEnv. Host paths
	// that do not exist are left out.
	ChrootEnv map[string]string
	// NoIsolation runs tasks as host processes, without a root and
	// namespaces of their own, even where the driver could isolate them.
	NoIsolation bool
}

// Driver is the exec driver. Its methods are safe for concurrent use; set
// PollInterval before calling RecoverTask.
type Driver struct {
	*proc.Driver
	iso *isolation
}

var _ driver.Driver = (*Driver)(nil)

// New returns an exec driver that isolates tasks and limits them as far
// as the host allows; logger may be nil.
func New(logger *slog.Logger) *Driver { return NewWithOptions(Options{Logger: logger}) }

// NewWithOptions returns an exec driver configured by o.
func NewWithOptions(o Options) *Driver {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	iso := &isolation{chrootEnv: o.ChrootEnv}
	if iso.chrootEnv == nil {
		iso.chrootEnv = DefaultChrootEnv
	}
	switch {
	case o.NoIsolation:
		iso.chrootWhy = "isolation is turned off for this driver"
	case os.Geteuid() != 0:
		iso.chrootWhy = "the client does not run as root, which namespaces and a chroot need"
	default:
		if err := isolate.Probe(); err != nil {
			iso.chrootWhy = "this host does not let the client give tasks a root and namespaces of their own: " + err.Error()
		}
	}
	iso.chroot = iso.chrootWhy == ""
	if iso.chrootWhy != "" {
		o.Logger.Info("exec tasks run without isolation", "reason", iso.chrootWhy)
	}
	if o.NoCgroups {
		iso.limitsWhy = "cgroups are turned off for this driver"
	} else {
		iso.chooseCgroups(o.CgroupMount, o.Logger)
	}
	return &Driver{Driver: proc.New(proc.Options{Name: Name, Logger: o.Logger, Isolation: iso}), iso: iso}
}

// chooseCgroups picks where task groups go: the v2 hierarchy when it
// offers the cpu and memory controllers; else, for isolated tasks (whose
// init can join a group itself), the v1 memory and cpu hierarchies; else
// the v2 hierarchy without limits, which still groups a task's processes.
func (i *isolation) chooseCgroups(mount string, logger *slog.Logger) {
	if mount == "" {
		mount = cgroup.Detect().V2
	}
	v2, v2err := cgroup.NewManager(mount)
	if v2err == nil && v2.Limits {
		i.v2 = v2
		return
	}
	var v1err error
	if i.chroot {
		if i.v1, v1err = cgroup.NewV1Manager(cgroup.Detect()); v1err == nil {
			return
		}
	}
	switch {
	case v2err != nil:
		i.limitsWhy = v2err.Error()
	default:
		i.v2 = v2
		i.limitsWhy = fmt.Sprintf("the cgroup v2 hierarchy at %s offers no cpu and memory controllers (it has %q)",
			filepath.Dir(v2.Dir), strings.Join(v2.Controllers, " "))
	}
	if v1err != nil {
		i.limitsWhy += "; cgroup v1: " + v1err.Error()
	}
	logger.Info("exec tasks run without cpu and memory limits", "reason", i.limitsWhy)
}

// Fingerprint implements driver.Driver.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	i := d.iso
	attrs := map[string]string{
		"driver.exec": "1", "driver.exec.cgroup": "none", "driver.exec.limits": "none", "driver.exec.isolation": "none",
	}
	var says []string
	if i.chroot {
		attrs["driver.exec.isolation"] = "chroot"
		says = append(says, "tasks run in a chroot with their own pid, mount and ipc namespaces")
	} else {
		says = append(says, "tasks run without isolation: "+i.chrootWhy)
	}
	switch {
	case i.v1 != nil:
		attrs["driver.exec.cgroup"] = cgroup.V1
	case i.v2 != nil:
		attrs["driver.exec.cgroup"] = cgroup.V2
	}
	if i.limitsWhy == "" {
		attrs["driver.exec.limits"] = "cpu,memory"
		says = append(says, "cpu and memory limits enforced through cgroup "+attrs["driver.exec.cgroup"])
	} else {
		says = append(says, "without cpu and memory limits: "+i.limitsWhy)
	}
	return driver.Fingerprint{Detected: true, Healthy: true, HealthDescription: "healthy; " + strings.Join(says, "; "),
		Attributes: attrs}
}

// Limited reports whether tasks get cpu and memory limits.
func (d *Driver) Limited() bool { return d.iso.limitsWhy == "" }

// Isolated reports whether tasks run in a chroot with namespaces of their
// own.
func (d *Driver) Isolated() bool { return d.iso.chroot }

// Cgroup returns the cgroup v2 directory of a task the driver holds, or
// "" when tasks get none (cgroup v1, or no cgroups).
func (d *Driver) Cgroup(taskID string) string {
	if d.iso.v2 == nil {
		return ""
	}
	return filepath.Join(d.iso.v2.Dir, cgroup.Name(taskID))
}

// CgroupV1 returns the cgroup v1 directories of a task the driver holds,
// by controller, or nil when tasks get none.
func (d *Driver) CgroupV1(taskID string) map[string]string {
	if d.iso.v1 == nil {
		return nil
	}
	out := map[string]string{}
	for c, dir := range d.iso.v1.Dirs {
		out[c] = filepath.Join(dir, cgroup.Name(taskID))
	}
	return out
}

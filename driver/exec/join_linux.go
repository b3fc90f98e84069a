package exec

import (
	"syscall"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/proc"
)

var _ proc.Joiner = (*group)(nil)

// Join puts a command run inside the task (an exec session) into the
// task's cgroup, so its limits hold and a stop kills it too.
func (c *group) Join(attr *syscall.SysProcAttr) (func(), error) {
	if c.g == nil {
		return func() {}, nil
	}
	f, err := c.g.Open()
	if err != nil {
		return nil, err
	}
	attr.UseCgroupFD = true
	attr.CgroupFD = int(f.Fd())
	return func() { f.Close() }, nil
}

// Procs lists the processes in the task's cgroup.
func (c *group) Procs() ([]int, error) {
	if c.g == nil {
		return nil, nil
	}
	return c.g.Procs()
}

// exec runs commands in its tasks (nomad alloc exec), inside their
// cgroups; it signals them and measures them.
var (
	_ driver.ExecDriver   = (*Driver)(nil)
	_ driver.SignalDriver = (*Driver)(nil)
	_ driver.StatsDriver  = (*Driver)(nil)
)

package exec

import (
	"errors"
	"syscall"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/proc"
)

var _ proc.Joiner = (*confinement)(nil)

// errExecIsolated: a command cannot yet be run inside an isolated task's
// root and namespaces.
var errExecIsolated = errors.New("running a command inside an exec task with a root and namespaces of its own is not supported yet")

// Join puts a command run inside the task (an exec session) into the
// task's cgroup v2 group, so its limits hold and a stop kills it too. A
// task isolated in a root of its own refuses: the command would run
// outside that root.
func (c *confinement) Join(attr *syscall.SysProcAttr) (func(), error) {
	if c.spec != nil {
		return nil, errExecIsolated
	}
	if c.v2 == nil {
		return func() {}, nil
	}
	f, err := c.v2.Open()
	if err != nil {
		return nil, err
	}
	attr.UseCgroupFD = true
	attr.CgroupFD = int(f.Fd())
	return func() { f.Close() }, nil
}

// Procs lists the processes in the task's cgroup.
func (c *confinement) Procs() ([]int, error) {
	switch {
	case c.v2 != nil:
		return c.v2.Procs()
	case c.v1 != nil:
		return c.v1.Procs()
	}
	return nil, nil
}

// exec runs commands in its tasks (nomad alloc exec), inside their
// cgroups; it signals them and measures them.
var (
	_ driver.ExecDriver   = (*Driver)(nil)
	_ driver.SignalDriver = (*Driver)(nil)
	_ driver.StatsDriver  = (*Driver)(nil)
)

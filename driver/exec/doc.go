// Package exec is the exec driver: it runs a task as a host process in its
// own process group, like raw_exec, and on hosts with a writable cgroup v2
// hierarchy also in a cgroup of its own, which
//
//   - holds every process the task starts, even one that leaves the
//     process group (setsid), so a stop kills the whole tree;
//   - carries the task's limits when the hierarchy offers the cpu and
//     memory controllers: memory.max from its memory reservation and
//     cpu.weight from its cpu reservation (the share it gets when cpu is
//     contended, as Nomad converts MHz).
//
// Without such a hierarchy the task still runs, grouped by process group
// only and unlimited, and the driver says so: the fingerprint attributes
// driver.exec.cgroup ("v2" or "none") and driver.exec.limits ("cpu,memory"
// or "none"), and a warning on every task handle, which the client records
// as a task event.
//
// Task config keys: command (string, required) and args (list of
// strings), as raw_exec. The process runs in the task directory with
// exactly the task's environment; its output is appended to the task's log
// files; a stop sends the kill signal to the process group and, after the
// kill timeout, SIGKILL to the group and the cgroup.
//
// After a client restart RecoverTask reattaches to the process by pid
// (checked against its start time) and to its cgroup by the path the
// handle recorded. The exit code of a reattached process cannot be
// learned: its exit is reported with ExitCode -1 and ErrExitStatusUnknown.
//
// exec works on Linux only; elsewhere it is not detected and its methods
// fail with errors.ErrUnsupported.
package exec

// Name is the driver's name in jobs.
const Name = "exec"

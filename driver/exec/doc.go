// Package exec is the exec driver: it runs a task as a host process
// isolated as Nomad's exec driver isolates it, as far as the host allows.
//
// Where the client runs as root and the kernel has pid, mount and ipc
// namespaces (driver.exec.isolation = "chroot"), a task runs
//
//   - in new pid, mount and ipc namespaces, under an init of its own (the
//     client's binary run again, see driver/internal/isolate) that is pid
//     1 there: the task sees only its own processes, and when it exits
//     or is killed every process it left behind goes with it;
//   - in a root of its own, built in its mount namespace over its task
//     directory: the chroot environment (Options.ChrootEnv, the client's
//     chroot_env; DefaultChrootEnv otherwise) bound read-only, its
//     local/, secrets/ and tmp/ at /local, /secrets and /tmp, the
//     allocation's shared directory at /alloc, a minimal /dev and its own
//     /proc; nothing else of the host's file system is reachable, and
//     NOMAD_TASK_DIR, NOMAD_ALLOC_DIR and NOMAD_SECRETS_DIR (and drover's
//     own) name those mounts;
//   - as the task's user (DefaultUser, nobody, unless the task sets
//     user: a name, a uid or uid:gid), who is given its local/ and
//     secrets/, with no_new_privs set, so setuid binaries grant nothing,
//     and Nomad's default capabilities at most (a task running as root
//     cannot mount, and its writable mounts are nosuid and nodev);
//   - in its working directory /, with exactly the task's environment.
//
// Without root the task runs as a host process in its own process group,
// as the client's user, in its task directory, and the driver says so:
// the fingerprint's health description and a warning on every task
// handle, which the client records as a task event.
//
// Limits, memory and cpu: on a host whose cgroup v2 hierarchy offers the
// cpu and memory controllers, each task gets a cgroup under
// <mount>/drover/, which it is cloned into (so no child escapes) and a
// stop kills as a whole, with memory.max and cpu.weight (as Nomad
// converts MHz); otherwise, for isolated tasks, groups in the cgroup v1
// memory and cpu hierarchies (memory.limit_in_bytes, cpu.shares), which
// the task's init joins before the task starts. The hard memory limit is
// the task's memory_max when set (memory oversubscription), with its
// memory as the soft limit (memory.low, memory.soft_limit_in_bytes);
// otherwise its memory. A task the kernel kills for its memory exits
// with driver.ErrOOMKilled. The fingerprint attributes
// driver.exec.cgroup ("v2", "v1" or "none") and driver.exec.limits
// ("cpu,memory" or "none") say what the host gave.
//
// Task config keys: command (string, required; a bare name is looked up
// in the task's PATH, inside its root when isolated) and args (list of
// strings), as raw_exec. Output is appended to the task's log files; a
// stop sends the kill signal to the process group (the task and its
// init, which ignores it) and, after the kill timeout, SIGKILL to the
// group and the cgroup.
//
// After a client restart RecoverTask reattaches to the process (for an
// isolated task, its init) by pid, checked against its start time, and
// to its cgroup by the path the handle recorded. The exit code of a
// reattached process cannot be learned: its exit is reported with
// ExitCode -1 and ErrExitStatusUnknown.
//
// exec works on Linux only; elsewhere it is not detected and its methods
// fail with errors.ErrUnsupported.
package exec

// Name is the driver's name in jobs.
const Name = "exec"

// DefaultChrootEnv is what a task's root holds of the host when the
// client sets no chroot_env: Nomad's default, each host path at the same
// place, read-only.
var DefaultChrootEnv = map[string]string{
	"/bin":                 "/bin",
	"/etc":                 "/etc",
	"/lib":                 "/lib",
	"/lib32":               "/lib32",
	"/lib64":               "/lib64",
	"/run/resolvconf":      "/run/resolvconf",
	"/run/systemd/resolve": "/run/systemd/resolve",
	"/sbin":                "/sbin",
	"/usr":                 "/usr",
}

// DefaultUser is who an isolated task runs as when it names no user.
const DefaultUser = "nobody"

// Package isolate runs a task in a root of its own, as the exec driver
// does: the client's binary (or a test binary) is executed again as the
// task's init, in new PID, mount and IPC namespaces, and before starting
// the task it
//
//   - makes every mount private, so nothing it mounts reaches the host;
//   - builds the task's root on a tmpfs mounted over the task directory
//     (seen only in the task's mount namespace): the host directories of
//     the chroot environment bound read-only, the task's local/, secrets/
//     and tmp/ and the allocation's shared directory at /alloc (nosuid,
//     nodev), a read-only /dev with a few devices and a /proc of the new
//     PID namespace; then pivots into it;
//   - joins the task's cgroup v1 groups, if it has any;
//   - bounds the task's capabilities to Nomad's default set for exec,
//     sets no_new_privs and starts the task as its user.
//
// The init stays as PID 1 of the namespace: it reaps orphans, ignores
// the signals a stop sends to the task's process group (the task gets
// them directly), and exits with the task's status once the task exits,
// which ends every process left in the namespace. It reports over a pipe
// (fd 3) whether the task started and, at the end, how it exited, so the
// driver can tell a setup failure from a task failure and a signal from
// an exit code.
//
// The init is entered from this package's init function when the process
// was started with Arg0 as its argv[0], so any program that links the
// exec driver can serve as the init; nothing else needs to call it.
package isolate

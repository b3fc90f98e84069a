// Package rawexec is the raw_exec driver: it runs a task as a host process,
// without isolation, in its own process group so that a stop reaches every
// process the task started.
//
// Task config keys: command (string, required; a bare name is looked up in
// the task environment's PATH, or the host's when the environment has
// none) and args (list of strings). Unknown keys are rejected.
//
// The process runs in the task directory with exactly the task's
// environment (plus the host's PATH when the environment sets none), and
// its output is appended to the task's log files. A stop signals the whole
// process group and, after the kill timeout, kills it.
//
// After a client restart a task's process is no longer the client's child:
// RecoverTask reattaches by watching its pid, having checked (on Linux,
// through the start time in /proc) that the pid still names the process the
// handle recorded. The exit code of a reattached process cannot be learned;
// its exit is reported with ExitCode -1 and ErrExitStatusUnknown.
//
// raw_exec works on unix only; elsewhere its methods fail with
// errors.ErrUnsupported.
package rawexec

// Name is the driver's name in jobs.
const Name = "raw_exec"

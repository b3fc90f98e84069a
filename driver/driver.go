// Package driver defines how a client runs tasks: a Driver starts, waits
// for, stops and releases tasks of one kind, and can reattach to a task it
// started before a client restart.
package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/droverhq/drover/structs"
)

// Errors callers branch on.
var (
	// ErrTaskNotFound: the driver holds no such task, or cannot reattach to it.
	ErrTaskNotFound = errors.New("driver: task not found")
	// ErrTaskRunning: DestroyTask without force on a task still running.
	ErrTaskRunning = errors.New("driver: task is still running")
	// ErrInvalidConfig wraps every error about a task's configuration (its
	// driver config, environment or kill signal); StartTask returns it before
	// starting anything, and retrying the same config cannot succeed.
	ErrInvalidConfig = errors.New("driver: invalid task config")
	// ErrOOMKilled is the Err of the exit result of a task the kernel
	// killed for using more memory than its limit.
	ErrOOMKilled = errors.New("OOM killed: the task used more memory than its limit")
)

// DefaultKillTimeout is the wait between the kill signal and a forced kill
// when a task sets none.
const DefaultKillTimeout = 5 * time.Second

// TaskConfig is everything a driver needs to start one task.
type TaskConfig struct {
	// ID is unique per task instance: "<allocID>/<taskName>".
	ID        string
	AllocID   string
	JobID     string
	TaskGroup string
	TaskName  string
	// Config is the task's driver configuration from the job.
	Config map[string]any
	// Env is the task's whole environment.
	Env map[string]string
	// TaskDir is the task's existing working directory, holding its local/,
	// secrets/ and tmp/.
	TaskDir string
	// AllocDir is the directory the allocation's tasks share (its logs/,
	// data/ and tmp/), published to tasks as NOMAD_ALLOC_DIR; "" when the
	// task has none.
	AllocDir string
	// Ports are the ports the servers assigned to the task's allocation
	// (the group's network block); Env publishes them too.
	Ports []Port
	// User is the task's user field: who the task should run as, for
	// drivers that can choose; "" takes the driver's default.
	User string
	// StdoutPath and StderrPath are files the task's output is appended to.
	StdoutPath string
	StderrPath string
	// Resources is what the task reserved.
	Resources *structs.Resources
	// KillTimeout is the wait between KillSignal and a forced kill; 0 means
	// DefaultKillTimeout.
	KillTimeout time.Duration
	// KillSignal is the signal a stop sends first, named like "SIGTERM"; ""
	// means SIGINT for processes.
	KillSignal string
	// Mounts are host directories the task mounts (its volume_mount
	// blocks); a driver that cannot mount them refuses the task with
	// ErrInvalidConfig.
	Mounts []Mount
}

// Mount is a host directory a task sees at TaskPath.
type Mount struct {
	// HostPath is the directory on the host.
	HostPath string
	// TaskPath is where the task sees it: an absolute path in a task with
	// a root of its own (exec isolated, docker); for a task without one
	// (raw_exec) a path relative to the task's directory, a leading "/"
	// meaning the task's directory too.
	TaskPath string
	// ReadOnly: writing through the mount fails.
	ReadOnly bool
}

// Validate checks what every driver needs of a task config: a non-nil
// config with an ID, and an environment that can be handed to a process.
// Its errors wrap ErrInvalidConfig.
func (c *TaskConfig) Validate() error {
	if c == nil {
		return fmt.Errorf("%w: no task config", ErrInvalidConfig)
	}
	if c.ID == "" {
		return fmt.Errorf("%w: task ID is empty", ErrInvalidConfig)
	}
	for k, v := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("%w: environment variable name %q", ErrInvalidConfig, k)
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("%w: environment variable %s holds a NUL byte", ErrInvalidConfig, k)
		}
	}
	if c.KillTimeout < 0 {
		return fmt.Errorf("%w: negative kill timeout %s", ErrInvalidConfig, c.KillTimeout)
	}
	return nil
}

// KillTimeoutOrDefault is KillTimeout, or DefaultKillTimeout when unset.
func (c *TaskConfig) KillTimeoutOrDefault() time.Duration {
	if c == nil || c.KillTimeout <= 0 {
		return DefaultKillTimeout
	}
	return c.KillTimeout
}

// TaskHandle is the serializable record of a started task, which the client
// persists so it can reattach after its own restart.
type TaskHandle struct {
	// ID is the task's TaskConfig.ID.
	ID string
	// Driver is the name of the driver that started the task.
	Driver string
	// PID is the task's main process, or 0 for drivers without processes.
	PID int
	// StartedAt is when the driver started the task.
	StartedAt time.Time
	// State is driver-specific.
	State []byte
	// Warnings are what the driver could not do for the task but started
	// it anyway, such as enforce resource limits; the client records each
	// as a task event.
	Warnings []string
}

// ExitResult is how a task ended.
type ExitResult struct {
	// ExitCode is the task's exit code; a process killed by a signal
	// reports 128+signal, as shells do, and -1 means unknown.
	ExitCode int
	// Signal is the signal that ended the task, or 0.
	Signal int
	// Err says what went wrong beyond the code, if anything.
	Err error
}

// Successful reports a clean exit: code 0, no signal, no error.
func (r *ExitResult) Successful() bool {
	return r != nil && r.ExitCode == 0 && r.Signal == 0 && r.Err == nil
}

// Fingerprint is a driver's report about itself on this host.
type Fingerprint struct {
	// Detected: the driver can run on this host.
	Detected bool
	// Healthy: the driver can run tasks right now.
	Healthy bool
	// HealthDescription explains Healthy to an operator.
	HealthDescription string
	// Attributes join the node's attributes, e.g. "driver.raw_exec" = "1".
	Attributes map[string]string
}

// Driver runs tasks of one kind. Methods are safe for concurrent use.
type Driver interface {
	// Name is what jobs write in a task's driver field.
	Name() string
	// Fingerprint reports whether the driver can run tasks here.
	Fingerprint(ctx context.Context) Fingerprint
	// StartTask starts a task and returns its handle.
	StartTask(ctx context.Context, cfg *TaskConfig) (*TaskHandle, error)
	// WaitTask returns a channel that receives the task's exit result once,
	// then is closed.
	WaitTask(ctx context.Context, taskID string) (<-chan *ExitResult, error)
	// StopTask sends signal and, after timeout, kills the task forcibly; it
	// returns when the task has exited or ctx is done.
	StopTask(ctx context.Context, taskID string, timeout time.Duration, signal string) error
	// DestroyTask releases everything held for the task; with force it
	// stops a running task first.
	DestroyTask(taskID string, force bool) error
	// RecoverTask reattaches to a task from a handle persisted before a
	// client restart; ErrTaskNotFound (wrapped) if it is gone or cannot be.
	RecoverTask(h *TaskHandle) error
}

package driver

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// What a driver may do beyond the Driver interface. Each capability is a
// small interface of its own: the client checks for it with a type
// assertion, and a driver without it answers ErrNotSupported through the
// client.

// ErrNotSupported: the driver cannot do what was asked (run a command in
// its tasks, signal them, measure them).
var ErrNotSupported = errors.New("driver: not supported by this driver")

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Height, Width int
}

// ExecOptions is a command to run inside a running task.
type ExecOptions struct {
	// Command is the program and its arguments; a bare program name is
	// looked up in the task's PATH.
	Command []string
	// Env is the task's environment and Dir its directory: the command
	// runs as the task does.
	Env map[string]string
	Dir string
	// Tty runs the command on a pseudo-terminal: Stdout then carries
	// stdout and stderr together, and Resize changes the terminal's size.
	Tty    bool
	Resize <-chan TerminalSize
	// Stdin is the command's input; its EOF closes the command's stdin
	// (on a terminal, sends the end-of-file character). Nil is an empty
	// input.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output; nil discards it.
	Stdout, Stderr io.Writer
}

// WithDefaults returns a copy of o with an empty input for a nil Stdin
// and a discarding writer for a nil Stdout or Stderr, so that a driver
// never reads or writes through a nil stream.
func (o ExecOptions) WithDefaults() *ExecOptions {
	if o.Stdin == nil {
		o.Stdin = strings.NewReader("")
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	return &o
}

// ExecDriver can run a command inside a running task, in its environment
// and directory (and, for isolating drivers, its isolation): what `nomad
// alloc exec` uses. ExecTask returns when the command has exited, with
// its exit result; cancelling ctx kills the command.
type ExecDriver interface {
	ExecTask(ctx context.Context, taskID string, opts *ExecOptions) (*ExitResult, error)
}

// SignalDriver can send a signal (a name such as "SIGHUP") to a running
// task.
type SignalDriver interface {
	SignalTask(taskID string, signal string) error
}

// TaskUsage is a task's resource usage, measured at Timestamp.
type TaskUsage struct {
	// RSS, Cache and Swap are bytes of memory; Usage is the memory in
	// use, MaxUsage its peak where known.
	RSS, Cache, Swap, Usage, MaxUsage uint64
	// MemoryMeasured names the memory fields that were measured.
	MemoryMeasured []string
	// UserSeconds and SystemSeconds are the cpu time used since the task
	// started; Percent is the share of one core used since the previous
	// measurement (since the task started, for the first one).
	UserSeconds, SystemSeconds float64
	Percent                    float64
	// ThrottledPeriods and ThrottledTime (nanoseconds) are where a cpu
	// limit held the task back.
	ThrottledPeriods, ThrottledTime uint64
	// CPUMeasured names the cpu fields that were measured.
	CPUMeasured []string
	// Pids are the task's processes.
	Pids      []int
	Timestamp time.Time
}

// StatsDriver measures a running task's resource usage.
type StatsDriver interface {
	TaskStats(ctx context.Context, taskID string) (*TaskUsage, error)
}

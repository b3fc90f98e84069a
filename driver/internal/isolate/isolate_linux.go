package isolate

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Arg0 is the argv[0] that makes a process the init of an isolated task.
const Arg0 = "drover-task-init"

// StartTimeout bounds the wait for the init to report that the task
// started (its mounts are made meanwhile).
const StartTimeout = 30 * time.Second

// Spec is what the init sets up before it starts the task.
type Spec struct {
	// Root is the directory the task's root is built over: the task
	// directory. Only the task's mount namespace sees the new root there.
	Root string `json:"root"`
	// Mounts are made in the new root, in order.
	Mounts []Mount `json:"mounts"`
	// CgroupProcs are cgroup.procs files the init writes 0 to, to join the
	// task's cgroup v1 groups before it starts the task.
	CgroupProcs []string `json:"cgroup_procs,omitempty"`
	// UID, GID and Groups are who the task runs as.
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	// Command and Args are the task's, as the job wrote them: a bare
	// command is looked up in the task's PATH inside its root.
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
	// Dir is the task's working directory inside its root.
	Dir string `json:"dir"`
	// Probe: set the root up, then exit without starting anything.
	Probe bool `json:"probe,omitempty"`
}

// Mount kinds.
const (
	// KindDir binds a host directory.
	KindDir = "dir"
	// KindFile binds a host file.
	KindFile = "file"
	// KindSymlink makes a symbolic link (the host's, copied).
	KindSymlink = "symlink"
)

// Mount is one entry of a task's root.
type Mount struct {
	Kind string `json:"kind"`
	// Source is the host path bound (KindDir, KindFile) or the link's
	// target (KindSymlink).
	Source string `json:"source"`
	// Target is the path inside the task's root.
	Target string `json:"target"`
	// ReadOnly binds read-only, submounts included.
	ReadOnly bool `json:"read_only,omitempty"`
}

// Launch is a started (or about to be started) init, as its parent sees
// it: the read end of its status pipe.
type Launch struct {
	status *os.File
	w      *os.File
	rd     *bufio.Reader
}

// Wrap turns cmd, which would run the task's command directly, into one
// that runs the init in new PID, mount and IPC namespaces with spec. The
// command and arguments to run are taken from spec, cmd's environment is
// the task's, its stdio the task's; its SysProcAttr (process group,
// cgroup) is kept.
func Wrap(cmd *exec.Cmd, spec *Spec) (*Launch, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("isolate: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("isolate: status pipe: %w", err)
	}
	cmd.Path = "/proc/self/exe"
	cmd.Args = []string{Arg0, string(b)}
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{w}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC
	return &Launch{status: r, w: w, rd: bufio.NewReader(r)}, nil
}

// Started waits for the init to report that the task started, given the
// error of starting the init itself. A failure to set the task up or to
// start its command is returned; the init then exits on its own.
func (l *Launch) Started(startErr error) error {
	l.w.Close()
	if startErr != nil {
		l.Close()
		return startErr
	}
	_ = l.status.SetReadDeadline(time.Now().Add(StartTimeout))
	line, err := l.rd.ReadString('\n')
	_ = l.status.SetReadDeadline(time.Time{})
	switch {
	case strings.HasPrefix(line, "ok"):
		return nil
	case strings.HasPrefix(line, "err "):
		return errors.New(strings.TrimSpace(strings.TrimPrefix(line, "err ")))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("isolate: the task's init did not start it within %s", StartTimeout)
	default:
		return fmt.Errorf("isolate: the task's init exited before starting it (%v)", err)
	}
}

// Exit reads how the task exited once the init has: its exit code and
// the signal that ended it (0 if none). ok is false when the init did not
// say (it was killed).
func (l *Launch) Exit() (code, signal int, ok bool) {
	defer l.Close()
	_ = l.status.SetReadDeadline(time.Now().Add(time.Second))
	line, err := l.rd.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) || !strings.HasPrefix(line, "exit ") {
		return 0, 0, false
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		return 0, 0, false
	}
	c, err1 := strconv.Atoi(f[1])
	s, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return c, s, true
}

// Probe sets up an empty root the way a task's init does, in a
// directory of its own, and reports why it could not: whether this host
// (its kernel, privileges, seccomp or LSM policy) lets tasks be isolated.
func Probe() error {
	dir, err := os.MkdirTemp("", "drover-isolate-probe")
	if err != nil {
		return fmt.Errorf("isolate: %w", err)
	}
	defer os.RemoveAll(dir)
	cmd := &exec.Cmd{SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	l, err := Wrap(cmd, &Spec{Root: dir, Dir: "/", Probe: true})
	if err != nil {
		return err
	}
	err = l.Started(cmd.Start())
	if cmd.Process != nil {
		_ = cmd.Wait()
	}
	l.Close()
	return err
}

// Close releases the status pipe.
func (l *Launch) Close() { l.status.Close() }

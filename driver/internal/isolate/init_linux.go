package isolate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// statusFD is where the init reports to the driver.
const statusFD = 3

func init() {
	if len(os.Args) == 2 && os.Args[0] == Arg0 {
		os.Exit(runInit(os.Args[1]))
	}
}

// runInit is the task's init: it sets up the task's root, starts the
// task, reaps until the task exits and returns the task's status.
func runInit(specJSON string) int {
	// Signals meant for the task reach it directly (it shares the init's
	// process group); the init must survive them to report its exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs)
	status := os.NewFile(statusFD, "status")
	syscall.CloseOnExec(statusFD)

	var spec Spec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fail(status, fmt.Errorf("task init: bad spec: %w", err))
	}
	if err := setUp(&spec); err != nil {
		return fail(status, err)
	}
	if spec.Probe {
		fmt.Fprintln(status, "ok")
		return 0
	}
	// The capability bounding set and no_new_privs are a thread's
	// attributes, inherited by what it forks: the task is forked from this
	// locked thread.
	runtime.LockOSThread()
	if err := boundCapabilities(); err != nil {
		return fail(status, err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fail(status, fmt.Errorf("task init: no_new_privs: %w", err))
	}
	path, err := lookPath(spec.Command, spec.Dir)
	if err != nil {
		return fail(status, err)
	}
	proc, err := os.StartProcess(path, append([]string{spec.Command}, spec.Args...), &os.ProcAttr{
		Dir: spec.Dir, Env: os.Environ(), Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: spec.UID, Gid: spec.GID, Groups: spec.Groups}},
	})
	if err != nil {
		return fail(status, fmt.Errorf("start %q: %w", spec.Command, err))
	}
	fmt.Fprintf(status, "ok %d\n", proc.Pid)
	code, sig := reap(proc.Pid)
	fmt.Fprintf(status, "exit %d %d\n", code, sig)
	if sig != 0 {
		return 128 + sig
	}
	return code
}

func fail(status *os.File, err error) int {
	fmt.Fprintf(status, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	return 127
}

// reap waits for every child, as PID 1 must, until the task exits, and
// returns its exit code and signal.
func reap(task int) (code, sig int) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, 0
		}
		if pid != task {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal()), int(ws.Signal())
		}
		return ws.ExitStatus(), 0
	}
}

// Capabilities are the only ones a task may hold (one running as root):
// Nomad's default for exec, Docker's less NET_RAW.
var Capabilities = []uintptr{
	unix.CAP_AUDIT_WRITE, unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_FSETID, unix.CAP_KILL,
	unix.CAP_MKNOD, unix.CAP_NET_BIND_SERVICE, unix.CAP_SETFCAP, unix.CAP_SETGID, unix.CAP_SETPCAP, unix.CAP_SETUID,
	unix.CAP_SYS_CHROOT,
}

// boundCapabilities drops every other capability from the bounding set.
func boundCapabilities() error {
	last := uintptr(unix.CAP_LAST_CAP)
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = uintptr(n)
		}
	}
	for c := uintptr(0); c <= last; c++ {
		if slices.Contains(Capabilities, c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("task init: drop capability %d: %w", c, err)
		}
	}
	return nil
}

// defaultPath is searched for a bare command when the task sets no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds command in the task's root: a path with a slash is
// relative to dir, a bare name is searched in PATH.
func lookPath(command, dir string) (string, error) {
	if strings.Contains(command, "/") {
		p := command
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", fmt.Errorf("command %q in the task's root: %w", command, err)
		}
		return p, nil
	}
	pathEnv := os.Getenv("PATH")
	if pathEnv == "" {
		pathEnv = defaultPath
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		if p := filepath.Join(d, command); executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in the task's root (PATH %q)", command, pathEnv)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file: %w", p, fs.ErrPermission)
	}
	return nil
}

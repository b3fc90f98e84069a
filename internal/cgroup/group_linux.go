package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Detect reads the host's mount table.
func Detect() Mounts {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Mounts{}
	}
	defer f.Close()
	return parseMounts(f)
}

// Manager creates task groups under <mount>/drover.
type Manager struct {
	// Dir is <mount>/drover.
	Dir string
	// Limits reports whether the cpu and memory controllers are enabled for
	// task groups, so that Limits are enforced.
	Limits bool
	// Controllers are the controllers the mount's root offers.
	Controllers []string
}

// NewManager prepares <mount>/drover, enabling the cpu and memory
// controllers for its children when the hierarchy offers them. It fails
// with an error wrapping ErrUnavailable when mount is not a writable
// cgroup v2 hierarchy.
func NewManager(mount string) (*Manager, error) {
	if mount == "" {
		return nil, ErrUnavailable
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mount, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("%w: %s is not a cgroup2 mount", ErrUnavailable, mount)
	}
	dir := filepath.Join(mount, Parent)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%w: create %s: %w", ErrUnavailable, dir, err)
	}
	// A cgroup v2 directory always has cgroup.procs; a plain directory
	// (the mount is not what it seemed) does not.
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, dir, err)
	}
	m := &Manager{Dir: dir, Controllers: readList(filepath.Join(mount, "cgroup.controllers"))}
	if slices.Contains(m.Controllers, "cpu") && slices.Contains(m.Controllers, "memory") {
		// Each level passes the controllers down to the next.
		err1 := enable(mount)
		err2 := enable(dir)
		m.Limits = err1 == nil && err2 == nil
	}
	return m, nil
}

func enable(dir string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory"), 0)
}

func readList(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// Name makes a group name from a task's id, which holds a '/': one path
// component, never empty, "." or "..", so that the group is always a
// directory of its own under the manager's.
func Name(taskID string) string {
	n := strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r == '\n' {
			return '.'
		}
		return r
	}, taskID)
	if n == "" || n == "." || n == ".." {
		n = "_" + n
	}
	return n
}

// Group is one task's cgroup.
type Group struct {
	// Path is the group's directory.
	Path string
}

// Create makes the group name, writing limits when the manager enforces
// them. A group left behind by an earlier run of the same task is reused.
func (m *Manager) Create(name string, l Limits) (*Group, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("cgroup: bad group name %q", name)
	}
	g := &Group{Path: filepath.Join(m.Dir, name)}
	if err := os.Mkdir(g.Path, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("cgroup: create %s: %w", g.Path, err)
	}
	if m.Limits {
		if err := g.SetLimits(l); err != nil {
			_ = g.Remove()
			return nil, err
		}
	}
	return g, nil
}

// SetLimits writes cpu.weight, memory.max and (with a memory_max above
// the task's memory) memory.low.
func (g *Group) SetLimits(l Limits) error {
	if l.CPUMHz > 0 {
		if err := g.write("cpu.weight", strconv.FormatInt(Weight(l.CPUMHz), 10)); err != nil {
			return err
		}
	}
	hard, soft := l.Memory()
	if hard > 0 {
		if err := g.write("memory.max", strconv.FormatInt(hard, 10)); err != nil {
			return err
		}
	}
	if soft > 0 {
		if err := g.write("memory.low", strconv.FormatInt(soft, 10)); err != nil {
			return err
		}
	}
	return nil
}

// OOMKills counts the processes of the group the kernel killed for
// running out of memory (memory.events' oom_kill).
func (g *Group) OOMKills() (int, error) {
	return readCounter(filepath.Join(g.Path, "memory.events"), "oom_kill")
}

// readCounter reads the value of key in a flat keyed file ("key value"
// lines), such as memory.events; a missing key reads as 0.
func readCounter(path, key string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return 0, fmt.Errorf("cgroup: %s: %s: %w", path, key, err)
			}
			return n, nil
		}
	}
	return 0, nil
}

func (g *Group) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(g.Path, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup: write %s: %w", file, err)
	}
	return nil
}

// Open opens the group's directory, for a process to be started in it
// (syscall.SysProcAttr.CgroupFD). The caller closes the file.
func (g *Group) Open() (*os.File, error) {
	f, err := os.OpenFile(g.Path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup: open %s: %w", g.Path, err)
	}
	return f, nil
}

// Procs lists the pids in the group.
func (g *Group) Procs() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(g.Path, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Populated reports whether any process is left in the group.
func (g *Group) Populated() (bool, error) {
	f, err := os.Open(filepath.Join(g.Path, "cgroup.events"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cgroup: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := bytes.Cut(sc.Bytes(), []byte(" ")); ok && string(k) == "populated" {
			return string(v) != "0", nil
		}
	}
	return false, fmt.Errorf("cgroup: %s/cgroup.events has no populated line", g.Path)
}

// Kill kills every process in the group at once (cgroup.kill), or one by
// one on kernels without it. A group already gone is not an error.
func (g *Group) Kill() error {
	err := os.WriteFile(filepath.Join(g.Path, "cgroup.kill"), []byte("1"), 0)
	if err == nil || errors.Is(err, fs.ErrNotExist) && !g.exists() {
		return nil
	}
	pids, perr := g.Procs()
	if perr != nil {
		return perr
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("cgroup: kill %d: %w", pid, err)
		}
	}
	return nil
}

func (g *Group) exists() bool {
	_, err := os.Stat(g.Path)
	return err == nil
}

// Remove kills what is left in the group, waits (up to wait) for it to
// empty, and removes it. A group already gone is not an error.
func (g *Group) Remove() error { return g.remove(5 * time.Second) }

func (g *Group) remove(wait time.Duration) error {
	if !g.exists() {
		return nil
	}
	if err := g.Kill(); err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for {
		err := os.Remove(g.Path)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("cgroup: remove %s: %w", g.Path, err)
		}
		// The kernel empties a killed group asynchronously.
		time.Sleep(5 * time.Millisecond)
	}
}

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// V1Controllers are the cgroup v1 hierarchies a V1Manager puts task
// groups in: memory for the memory limits, cpu for the cpu shares.
var V1Controllers = []string{"memory", "cpu"}

// V1Manager creates task groups in the cgroup v1 memory and cpu
// hierarchies, for hosts (and hybrid hosts) whose cgroup v2 hierarchy
// offers neither controller. A v1 group carries the limits; it cannot
// have a process cloned into it, so a process joins it itself (by writing
// 0 to each of V1Group.ProcsFiles) before it starts the task.
type V1Manager struct {
	// Dirs are <controller's mount>/drover, by controller.
	Dirs map[string]string
}

// NewV1Manager prepares <mount>/drover in the memory and cpu hierarchies
// of m. It fails with an error wrapping ErrUnavailable when either is not
// mounted or not writable.
func NewV1Manager(m Mounts) (*V1Manager, error) {
	mgr := &V1Manager{Dirs: map[string]string{}}
	for _, c := range V1Controllers {
		mount := m.V1[c]
		if mount == "" {
			return nil, fmt.Errorf("%w: no cgroup v1 %s hierarchy", ErrUnavailable, c)
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(mount, &st); err != nil || st.Type != cgroupSuperMagic {
			return nil, fmt.Errorf("%w: %s is not a cgroup v1 mount", ErrUnavailable, mount)
		}
		dir := filepath.Join(mount, Parent)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: create %s: %w", ErrUnavailable, dir, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, dir, err)
		}
		mgr.Dirs[c] = dir
	}
	return mgr, nil
}

// cgroupSuperMagic is CGROUP_SUPER_MAGIC, the type of a v1 hierarchy.
const cgroupSuperMagic = 0x27e0eb

// V1Group is one task's group in the v1 hierarchies.
type V1Group struct {
	// Dirs are the group's directories, by controller.
	Dirs map[string]string
}

// Create makes the group name in every hierarchy and writes limits. A
// group left behind by an earlier run of the same task is reused.
func (m *V1Manager) Create(name string, l Limits) (*V1Group, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("cgroup: bad group name %q", name)
	}
	g := &V1Group{Dirs: map[string]string{}}
	for c, dir := range m.Dirs {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			_ = g.Remove()
			return nil, fmt.Errorf("cgroup: create %s: %w", p, err)
		}
		g.Dirs[c] = p
	}
	if err := g.SetLimits(l); err != nil {
		_ = g.Remove()
		return nil, err
	}
	return g, nil
}

// SetLimits writes memory.limit_in_bytes, memory.soft_limit_in_bytes
// (with a memory_max above the task's memory) and cpu.shares.
func (g *V1Group) SetLimits(l Limits) error {
	hard, soft := l.Memory()
	var writes [][3]string
	if hard > 0 {
		writes = append(writes, [3]string{"memory", "memory.limit_in_bytes", strconv.FormatInt(hard, 10)})
	}
	if soft > 0 {
		writes = append(writes, [3]string{"memory", "memory.soft_limit_in_bytes", strconv.FormatInt(soft, 10)})
	}
	if l.CPUMHz > 0 {
		writes = append(writes, [3]string{"cpu", "cpu.shares", strconv.FormatInt(Shares(l.CPUMHz), 10)})
	}
	for _, w := range writes {
		dir, ok := g.Dirs[w[0]]
		if !ok {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, w[1]), []byte(w[2]), 0); err != nil {
			return fmt.Errorf("cgroup: write %s: %w", w[1], err)
		}
	}
	return nil
}

// ProcsFiles are the cgroup.procs files a process writes 0 to, to join
// the group in every hierarchy.
func (g *V1Group) ProcsFiles() []string {
	out := make([]string, 0, len(g.Dirs))
	for _, c := range V1Controllers {
		if dir, ok := g.Dirs[c]; ok {
			out = append(out, filepath.Join(dir, "cgroup.procs"))
		}
	}
	return out
}

// Procs lists the pids in the group (in its memory hierarchy, which every
// process of the task joins).
func (g *V1Group) Procs() ([]int, error) {
	var all []int
	seen := map[int]bool{}
	for _, f := range g.ProcsFiles() {
		pids, err := readPids(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, p := range pids {
			if !seen[p] {
				seen[p] = true
				all = append(all, p)
			}
		}
	}
	return all, nil
}

func readPids(path string) ([]int, error) {
	b, err := os.ReadFile(path)
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

// Kill sends SIGKILL to every process in the group (v1 has no
// cgroup.kill). A group already gone is not an error.
func (g *V1Group) Kill() error {
	pids, err := g.Procs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("cgroup: kill %d: %w", pid, err)
		}
	}
	return nil
}

// OOMKills counts the processes of the group the kernel killed for
// running out of memory (memory.oom_control's oom_kill, Linux 4.13+).
func (g *V1Group) OOMKills() (int, error) {
	dir, ok := g.Dirs["memory"]
	if !ok {
		return 0, nil
	}
	return readCounter(filepath.Join(dir, "memory.oom_control"), "oom_kill")
}

// Remove kills what is left in the group, waits for it to empty and
// removes its directories. A group already gone is not an error.
func (g *V1Group) Remove() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := g.Kill(); err != nil {
			return err
		}
		var busy error
		for _, dir := range g.Dirs {
			err := os.Remove(dir)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				busy = fmt.Errorf("cgroup: remove %s: %w", dir, err)
				if !errors.Is(err, syscall.EBUSY) {
					return busy
				}
			}
		}
		if busy == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return busy
		}
		time.Sleep(5 * time.Millisecond)
	}
}

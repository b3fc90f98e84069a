package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// manager returns a manager on the host's cgroup v2 mount, or skips.
func manager(t *testing.T) *Manager {
	t.Helper()
	m, err := NewManager(Detect().V2)
	if err != nil {
		t.Skipf("needs a writable cgroup v2 hierarchy: %v", err)
	}
	return m
}

func TestNewManagerRefusesWhatIsNotACgroupMount(t *testing.T) {
	_, err := NewManager(t.TempDir())
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = NewManager("")
	require.ErrorIs(t, err, ErrUnavailable)
}

func TestGroupConfinesAndKillsItsProcesses(t *testing.T) {
	m := manager(t)
	g, err := m.Create("test-"+uuid.NewString(), Limits{CPUMHz: 500, MemoryMB: 64, MemoryMaxMB: 128})
	require.NoError(t, err)
	defer func() { require.NoError(t, g.Remove()) }()
	_, err = m.Create("../escape", Limits{})
	require.Error(t, err)

	dir, err := g.Open()
	require.NoError(t, err)
	// The shell's background child leaves the process group, not the cgroup.
	cmd := exec.Command("/bin/sh", "-c", "setsid sleep 60 & sleep 60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	require.NoError(t, cmd.Start())
	dir.Close()
	require.Eventually(t, func() bool {
		pids, err := g.Procs()
		return err == nil && len(pids) == 3
	}, 20*time.Second, 5*time.Millisecond, "the shell and both children are in the group")
	populated, err := g.Populated()
	require.NoError(t, err)
	require.True(t, populated)

	require.NoError(t, g.Kill())
	_ = cmd.Wait()
	require.Eventually(t, func() bool {
		p, err := g.Populated()
		return err == nil && !p
	}, 20*time.Second, 5*time.Millisecond, "the escaped child was killed too")

	if m.Limits {
		b, err := os.ReadFile(filepath.Join(g.Path, "memory.max"))
		require.NoError(t, err)
		require.Equal(t, "134217728\n", string(b), "memory_max is the hard limit")
		b, err = os.ReadFile(filepath.Join(g.Path, "memory.low"))
		require.NoError(t, err)
		require.Equal(t, "67108864\n", string(b), "memory the soft one")
	} else {
		t.Logf("cpu and memory controllers unavailable under %s (offered: %v): limits not checked", m.Dir, m.Controllers)
	}
}

func TestV1GroupCarriesLimitsAndKillsItsProcesses(t *testing.T) {
	m, err := NewV1Manager(Detect())
	if err != nil {
		t.Skipf("needs writable cgroup v1 memory and cpu hierarchies: %v", err)
	}
	_, err = m.Create("..", Limits{})
	require.Error(t, err)
	g, err := m.Create("test-"+uuid.NewString(), Limits{CPUMHz: 500, MemoryMB: 64, MemoryMaxMB: 128})
	require.NoError(t, err)
	defer func() { require.NoError(t, g.Remove()) }()
	read := func(c, f string) string {
		b, err := os.ReadFile(filepath.Join(g.Dirs[c], f))
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	require.Equal(t, "134217728", read("memory", "memory.limit_in_bytes"), "memory_max is the hard limit")
	require.Equal(t, "67108864", read("memory", "memory.soft_limit_in_bytes"), "memory the soft one")
	require.Equal(t, "500", read("cpu", "cpu.shares"))

	// The shell joins the group itself, as a task's init does, then starts
	// a child that leaves its process group.
	script := ""
	for _, f := range g.ProcsFiles() {
		script += "echo 0 > " + f + "; "
	}
	cmd := exec.Command("/bin/sh", "-c", script+"setsid sleep 60 & sleep 60")
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool {
		pids, err := g.Procs()
		return err == nil && len(pids) == 3
	}, 20*time.Second, 5*time.Millisecond, "the shell and both children are in the group")
	n, err := g.OOMKills()
	require.NoError(t, err)
	require.Zero(t, n)

	require.NoError(t, g.Kill())
	_ = cmd.Wait()
	require.Eventually(t, func() bool {
		pids, err := g.Procs()
		return err == nil && len(pids) == 0
	}, 20*time.Second, 5*time.Millisecond, "the escaped child was killed too")
}

package exec

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/proctest"
	"github.com/droverhq/drover/structs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const deadline = proctest.Deadline

// hostDriver runs tasks as host processes, as raw_exec does, with
// cgroups where the host has them: what these tests look at from the
// host (process groups, pids, files) is only there without isolation;
// isolation_linux_test.go tests isolated tasks.
func hostDriver() *Driver { return NewWithOptions(Options{NoIsolation: true}) }

func taskConfig(t *testing.T, id, script string) *driver.TaskConfig {
	t.Helper()
	dir := t.TempDir()
	return &driver.TaskConfig{
		ID: id + "/" + strconv.FormatInt(time.Now().UnixNano(), 36), TaskName: id, TaskDir: dir,
		Config:     map[string]any{"command": "/bin/sh", "args": []any{"-c", script}},
		Env:        map[string]string{"GREETING": "hello", "PATH": "/usr/bin:/bin"},
		StdoutPath: filepath.Join(dir, "stdout"), StderrPath: filepath.Join(dir, "stderr"),
		Resources: &structs.Resources{CpuMhz: 250, MemoryMb: 64},
	}
}

func wait(t *testing.T, d *Driver, id string) *driver.ExitResult {
	t.Helper()
	ch, err := d.WaitTask(context.Background(), id)
	require.NoError(t, err)
	select {
	case res := <-ch:
		require.NotNil(t, res)
		return res
	case <-time.After(deadline):
		t.Fatal("task did not exit")
		return nil
	}
}

// cgroupOf reads the cgroup v2 path of pid ("" if it has none).
func cgroupOf(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest
		}
	}
	return ""
}

func TestTaskRunsInItsDirWithItsEnvAndWritesItsLog(t *testing.T) {
	d := hostDriver()
	cfg := taskConfig(t, "log", `echo "$GREETING from $(pwd)"; echo oops >&2`)
	h, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, Name, h.Driver)
	require.Positive(t, h.PID)
	require.True(t, wait(t, d, cfg.ID).Successful())
	require.NoError(t, d.DestroyTask(cfg.ID, false))
	out, err := os.ReadFile(cfg.StdoutPath)
	require.NoError(t, err)
	require.Equal(t, "hello from "+cfg.TaskDir+"\n", string(out))
	errOut, err := os.ReadFile(cfg.StderrPath)
	require.NoError(t, err)
	require.Equal(t, "oops\n", string(errOut))
	if dir := d.Cgroup(cfg.ID); dir != "" {
		require.NoDirExists(t, dir, "the task's cgroup is removed with the task")
	}
}

func TestStopKillsTheWholeTreeWithinTheKillTimeout(t *testing.T) {
	d := hostDriver()
	pids := filepath.Join(t.TempDir(), "pids")
	// The task ignores SIGTERM; one child stays in its process group, one
	// (setsid) leaves it: only a cgroup still holds that one.
	cfg := taskConfig(t, "tree", `trap "" TERM
sleep 60 & a=$!
setsid sleep 60 & b=$!
echo "$$ $a $b" > `+pids+`
while true; do sleep 0.05; done`)
	h, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	fields := strings.Fields(proctest.WaitForFile(t, pids))
	require.Len(t, fields, 3)
	var tree []int
	for _, f := range fields {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		tree = append(tree, pid)
	}
	require.Equal(t, h.PID, tree[0])
	require.Contains(t, proctest.LiveGroupMembers(t, h.PID), tree[1], "the first child shares the task's group")
	cgroupHeld := d.Cgroup(cfg.ID) != ""
	if cgroupHeld {
		want := strings.TrimPrefix(d.Cgroup(cfg.ID), filepath.Dir(filepath.Dir(d.Cgroup(cfg.ID))))
		for _, pid := range tree {
			require.Equal(t, want, cgroupOf(pid), "process %d is in the task's cgroup", pid)
		}
	} else {
		t.Log("no writable cgroup v2 here: a process that leaves the group is not tracked; checking the group only")
	}

	const killTimeout = 300 * time.Millisecond
	began := time.Now()
	require.NoError(t, d.StopTask(context.Background(), cfg.ID, killTimeout, "SIGTERM"))
	took := time.Since(began)
	require.GreaterOrEqual(t, took, killTimeout, "SIGKILL only after the kill timeout")
	require.Less(t, took, killTimeout+deadline/2, "the stop does not wait past the kill timeout for a task ignoring its signal")
	res := wait(t, d, cfg.ID)
	require.Equal(t, int(syscall.SIGKILL), res.Signal)
	require.NoError(t, d.DestroyTask(cfg.ID, false))

	proctest.RequireGroupGone(t, h.PID)
	if cgroupHeld {
		proctest.RequireGone(t, tree...)
		require.NoDirExists(t, d.Cgroup(cfg.ID))
	} else {
		proctest.RequireGone(t, tree[:2]...)
		_ = syscall.Kill(tree[2], syscall.SIGKILL) // the escaped child, untracked without cgroups
	}
}

func TestLimitsAreWrittenToTheTasksCgroup(t *testing.T) {
	d := New(nil)
	if !d.Limited() {
		t.Skipf("needs a writable cgroup hierarchy with the cpu and memory controllers; here: %s",
			d.Fingerprint(context.Background()).HealthDescription)
	}
	cfg := taskConfig(t, "limits", "sleep 60")
	cfg.Resources.MemoryMaxMb = 128
	h, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	require.Empty(t, h.Warnings)
	read := func(dir, f string) string {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	if dir := d.Cgroup(cfg.ID); dir != "" {
		require.Equal(t, strconv.Itoa(128<<20), read(dir, "memory.max"), "memory_max is the hard limit")
		require.Equal(t, strconv.Itoa(64<<20), read(dir, "memory.low"), "memory the soft one")
		require.Equal(t, "10", read(dir, "cpu.weight"))
	} else {
		v1 := d.CgroupV1(cfg.ID)
		require.Equal(t, strconv.Itoa(128<<20), read(v1["memory"], "memory.limit_in_bytes"), "memory_max is the hard limit")
		require.Equal(t, strconv.Itoa(64<<20), read(v1["memory"], "memory.soft_limit_in_bytes"), "memory the soft one")
		require.Equal(t, "250", read(v1["cpu"], "cpu.shares"))
	}
	require.NoError(t, d.DestroyTask(cfg.ID, true))
}

func TestWithoutCgroupsTheTaskRunsAndSaysItIsUnlimited(t *testing.T) {
	d := NewWithOptions(Options{NoCgroups: true})
	fp := d.Fingerprint(context.Background())
	require.True(t, fp.Detected)
	require.True(t, fp.Healthy)
	require.Equal(t, "none", fp.Attributes["driver.exec.limits"])
	require.Equal(t, "none", fp.Attributes["driver.exec.cgroup"])
	require.Contains(t, fp.HealthDescription, "without cpu and memory limits")

	cfg := taskConfig(t, "unlimited", "exit 0")
	h, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	require.Contains(t, h.Warnings[0], "limits are not enforced")
	require.True(t, wait(t, d, cfg.ID).Successful())
	require.NoError(t, d.DestroyTask(cfg.ID, false))

	other := NewWithOptions(Options{CgroupMount: t.TempDir(), NoIsolation: true})
	require.Equal(t, "none", other.Fingerprint(context.Background()).Attributes["driver.exec.cgroup"],
		"a directory that is not a cgroup2 mount is not used")
	cfg = taskConfig(t, "unconfined", "exit 0")
	h, err = other.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	require.Contains(t, h.Warnings[0], "not a cgroup2 mount")
	require.True(t, wait(t, other, cfg.ID).Successful())
	require.NoError(t, other.DestroyTask(cfg.ID, false))
}

func TestFingerprintSaysWhatTheHostOffers(t *testing.T) {
	fp := New(nil).Fingerprint(context.Background())
	require.Equal(t, "1", fp.Attributes["driver.exec"])
	require.Contains(t, []string{"v2", "v1", "none"}, fp.Attributes["driver.exec.cgroup"])
	require.Contains(t, []string{"chroot", "none"}, fp.Attributes["driver.exec.isolation"])
	t.Logf("exec on this host: %s (%v)", fp.HealthDescription, fp.Attributes)
}

func TestRecoveredTaskIsStoppedWithItsWholeTree(t *testing.T) {
	first := hostDriver()
	pids := filepath.Join(t.TempDir(), "pids")
	cfg := taskConfig(t, "recover", `setsid sleep 60 & echo "$$ $!" > `+pids+`; exec sleep 60`)
	h, err := first.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	fields := strings.Fields(proctest.WaitForFile(t, pids))
	escaped, err := strconv.Atoi(fields[1])
	require.NoError(t, err)

	second := hostDriver()
	second.PollInterval = 10 * time.Millisecond
	require.NoError(t, second.RecoverTask(h))
	require.NoError(t, second.StopTask(context.Background(), cfg.ID, deadline, "SIGTERM"))
	res := wait(t, second, cfg.ID)
	require.ErrorIs(t, res.Err, ErrExitStatusUnknown)
	require.NoError(t, second.DestroyTask(cfg.ID, false))
	require.Equal(t, int(syscall.SIGTERM), wait(t, first, cfg.ID).Signal, "the stop reached the original process")
	require.NoError(t, first.DestroyTask(cfg.ID, false))
	if first.Cgroup(cfg.ID) != "" {
		proctest.RequireGone(t, escaped)
		require.NoDirExists(t, first.Cgroup(cfg.ID))
	} else {
		_ = syscall.Kill(escaped, syscall.SIGKILL)
	}
}

func TestRecoverRefusesACgroupOutsideDrovers(t *testing.T) {
	d := hostDriver()
	if d.iso.v2 == nil {
		t.Skip("needs a writable cgroup v2 hierarchy")
	}
	_, err := d.iso.Reopen([]byte(`{"cgroup":"/sys/fs/cgroup/system.slice"}`))
	require.Error(t, err)
	_, err = d.iso.Reopen([]byte(`{"cgroup":"` + d.iso.v2.Dir + `/../../elsewhere"}`))
	require.Error(t, err)
	_, err = d.iso.Reopen([]byte(`{`))
	require.Error(t, err)
	c, err := d.iso.Reopen([]byte(`{"cgroup":"` + d.iso.v2.Dir + `/a.b"}`))
	require.NoError(t, err)
	require.NotNil(t, c)
}

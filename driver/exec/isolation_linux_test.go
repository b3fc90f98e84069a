package exec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/isolate"
	"github.com/droverhq/drover/driver/internal/proctest"
)

// isolated returns a driver that isolates tasks, or skips.
func isolated(t *testing.T) *Driver {
	t.Helper()
	d := New(nil)
	if !d.Isolated() {
		t.Skipf("needs root and pid, mount and ipc namespaces: %s", d.Fingerprint(context.Background()).HealthDescription)
	}
	return d
}

// isolatedConfig is a task config laid out as the client lays tasks out:
// a task directory with local/, secrets/ and tmp/ beside the allocation's
// shared directory.
func isolatedConfig(t *testing.T, id, script string) *driver.TaskConfig {
	t.Helper()
	cfg := taskConfig(t, id, script)
	allocDir := filepath.Join(t.TempDir(), "alloc")
	for _, d := range []string{filepath.Join(allocDir, "data"), filepath.Join(cfg.TaskDir, "local"),
		filepath.Join(cfg.TaskDir, "secrets")} {
		require.NoError(t, os.MkdirAll(d, 0o711))
	}
	require.NoError(t, os.Mkdir(filepath.Join(cfg.TaskDir, "tmp"), 0o777))
	require.NoError(t, os.Chmod(filepath.Join(cfg.TaskDir, "tmp"), os.ModeSticky|0o777))
	cfg.AllocDir = allocDir
	cfg.Env["NOMAD_TASK_DIR"] = filepath.Join(cfg.TaskDir, "local")
	cfg.Env["NOMAD_ALLOC_DIR"] = allocDir
	cfg.Env["NOMAD_SECRETS_DIR"] = filepath.Join(cfg.TaskDir, "secrets")
	return cfg
}

// report parses the key=value lines a task printed.
func report(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		out[k] = v
	}
	return out
}

func TestIsolatedTaskSeesOnlyItsRootAndRunsAsNobodyInNamespacesOfItsOwn(t *testing.T) {
	d := isolated(t)
	outside := filepath.Join(t.TempDir(), "outside")
	require.NoError(t, os.WriteFile(outside, []byte("host secret"), 0o644))
	cfg := isolatedConfig(t, "root", `echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "pid=$$"
echo "ppid=$(grep PPid /proc/$$/status | tr -d ' \t' | cut -d: -f2)"
echo "procs=$(ls /proc | grep -c '^[0-9]')"
echo "nnp=$(grep NoNewPrivs /proc/self/status | tr -d ' \t' | cut -d: -f2)"
test -e `+outside+` && echo outside=visible || echo outside=hidden
echo "hello=$(cat /local/hello)"
echo "dirs=$NOMAD_TASK_DIR $NOMAD_ALLOC_DIR $NOMAD_SECRETS_DIR"
touch /local/made && echo local=writable
touch /secrets/made && echo secrets=writable
touch /tmp/made && echo tmp=writable
touch /etc/made 2>/dev/null && echo etc=writable || echo etc=readonly
touch /made 2>/dev/null && echo root=writable || echo root=readonly
echo "pwd=$(pwd)"
echo "listing=$(ls / | tr '\n' ' ')"`)
	require.NoError(t, os.WriteFile(filepath.Join(cfg.TaskDir, "local", "hello"), []byte("from local"), 0o644))

	h, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	res := wait(t, d, cfg.ID)
	require.True(t, res.Successful(), "%+v; stderr: %s", res, readOr(cfg.StderrPath))
	require.NoError(t, d.DestroyTask(cfg.ID, false))

	got := report(t, cfg.StdoutPath)
	require.Equal(t, "65534", got["uid"], "runs as nobody")
	require.Equal(t, "65534", got["gid"])
	pid, err := strconv.Atoi(got["pid"])
	require.NoError(t, err)
	require.Less(t, pid, 100, "a pid of its own pid namespace")
	require.Equal(t, "1", got["ppid"], "whose init, pid 1, started the task")
	procs, err := strconv.Atoi(got["procs"])
	require.NoError(t, err)
	require.LessOrEqual(t, procs, 6, "only the namespace's processes are visible")
	require.Equal(t, "1", got["nnp"], "no new privileges")
	require.Equal(t, "hidden", got["outside"], "the host's files outside the chroot are not visible")
	require.Equal(t, "from local", got["hello"])
	require.Equal(t, "/local /alloc /secrets", got["dirs"], "the directory variables name the mounts")
	require.Equal(t, "writable", got["local"])
	require.Equal(t, "writable", got["secrets"])
	require.Equal(t, "writable", got["tmp"])
	require.Equal(t, "readonly", got["etc"], "the chroot environment is read-only")
	require.Equal(t, "readonly", got["root"])
	require.Equal(t, "/", got["pwd"])
	for _, dir := range []string{"alloc", "bin", "dev", "etc", "local", "proc", "secrets", "tmp", "usr"} {
		require.Contains(t, strings.Fields(got["listing"]), dir)
	}
	fi, err := os.Stat(filepath.Join(cfg.TaskDir, "local", "made"))
	require.NoError(t, err)
	require.Equal(t, uint32(65534), fi.Sys().(*syscall.Stat_t).Uid, "the task's files on the host are its user's")
	_, err = os.Stat(filepath.Join(cfg.TaskDir, "bin"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing of the root is left in the task directory on the host")
	require.NotEqual(t, nsOf(t, os.Getpid(), "pid"), nsOf(t, h.PID, "pid"), "the handle's pid is the task's init")
}

func readOr(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// nsOf names the namespace of kind that pid is in; "" if pid is gone.
func nsOf(t *testing.T, pid int, kind string) string {
	t.Helper()
	link, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + kind)
	return link
}

// inNamespace lists the host pids in the pid namespace ns.
func inNamespace(t *testing.T, ns string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && proctest.Alive(pid) && nsOf(t, pid, "pid") == ns {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestIsolatedTaskRunsAsItsUser(t *testing.T) {
	d := isolated(t)
	for user, want := range map[string]string{"root": "0 0", "1234:5678": "1234 5678", "65534": "65534 65534"} {
		cfg := isolatedConfig(t, "user", `echo "$(id -u) $(id -g)"`)
		cfg.User = user
		_, err := d.StartTask(context.Background(), cfg)
		require.NoError(t, err, user)
		require.True(t, wait(t, d, cfg.ID).Successful(), user)
		require.NoError(t, d.DestroyTask(cfg.ID, false))
		require.Equal(t, want+"\n", readOr(cfg.StdoutPath), user)
	}
	cfg := isolatedConfig(t, "nouser", "true")
	cfg.User = "no-such-user-here"
	_, err := d.StartTask(context.Background(), cfg)
	require.ErrorIs(t, err, driver.ErrInvalidConfig)
}

func TestIsolatedTaskWithoutItsCommandFailsToStart(t *testing.T) {
	d := isolated(t)
	cfg := isolatedConfig(t, "missing", "")
	cfg.Config = map[string]any{"command": "/local/not-there"}
	_, err := d.StartTask(context.Background(), cfg)
	require.ErrorContains(t, err, `command "/local/not-there" in the task's root`)
	cfg.Config = map[string]any{"command": "not-a-command-anywhere"}
	_, err = d.StartTask(context.Background(), cfg)
	require.ErrorContains(t, err, "not found in the task's root")
	// The id is free again: nothing was left behind.
	cfg.Config = map[string]any{"command": "true"}
	_, err = d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	require.True(t, wait(t, d, cfg.ID).Successful())
	require.NoError(t, d.DestroyTask(cfg.ID, false))
}

func TestIsolatedTaskReportsItsOwnExitAndSignal(t *testing.T) {
	d := isolated(t)
	cfg := isolatedConfig(t, "exit", "exit 3")
	_, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	res := wait(t, d, cfg.ID)
	require.Equal(t, 3, res.ExitCode)
	require.Zero(t, res.Signal)
	require.NoError(t, d.DestroyTask(cfg.ID, false))

	cfg = isolatedConfig(t, "signal", "exec sleep 60")
	_, err = d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	began := time.Now()
	require.NoError(t, d.StopTask(context.Background(), cfg.ID, deadline, "SIGTERM"))
	require.Less(t, time.Since(began), deadline/2, "the task got the signal: no wait for the kill timeout")
	res = wait(t, d, cfg.ID)
	require.Equal(t, int(syscall.SIGTERM), res.Signal, "the task's signal, not its init's exit code")
	require.NoError(t, d.DestroyTask(cfg.ID, false))
}

func TestStoppingAnIsolatedTaskEndsEveryProcessInItsNamespace(t *testing.T) {
	d := isolated(t)
	// The task ignores SIGTERM and leaves children behind, one of them in
	// a session of its own.
	cfg := isolatedConfig(t, "tree", `trap "" TERM
sleep 300 &
setsid sleep 300 &
echo started > /local/started
while true; do sleep 0.05; done`)
	h, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	proctest.WaitForFile(t, filepath.Join(cfg.TaskDir, "local", "started"))
	ns := nsOf(t, h.PID, "pid")
	var tree []int
	require.Eventually(t, func() bool { tree = inNamespace(t, ns); return len(tree) >= 4 }, deadline, 10*time.Millisecond,
		"the init, the shell and both children")

	const killTimeout = 300 * time.Millisecond
	began := time.Now()
	require.NoError(t, d.StopTask(context.Background(), cfg.ID, killTimeout, "SIGTERM"))
	require.GreaterOrEqual(t, time.Since(began), killTimeout, "SIGKILL only after the kill timeout")
	require.Equal(t, int(syscall.SIGKILL), wait(t, d, cfg.ID).Signal)
	require.NoError(t, d.DestroyTask(cfg.ID, false))
	proctest.RequireGone(t, tree...)
	for _, dir := range d.CgroupV1(cfg.ID) {
		require.NoDirExists(t, dir, "the task's cgroups are removed with it")
	}
}

func TestMemoryMaxIsTheHardLimitAndGoingPastItIsAnOOMKill(t *testing.T) {
	d := isolated(t)
	if !d.Limited() {
		t.Skipf("needs cpu and memory limits: %s", d.Fingerprint(context.Background()).HealthDescription)
	}
	// tail keeps a line without a newline whole: 64 MiB of zeros.
	const hog = "head -c 64m /dev/zero | tail > /dev/null"
	cfg := isolatedConfig(t, "within", hog)
	cfg.Resources.MemoryMb, cfg.Resources.MemoryMaxMb = 32, 160
	_, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	res := wait(t, d, cfg.ID)
	require.True(t, res.Successful(), "memory_max, not memory, is the hard limit: %+v %s", res, readOr(cfg.StderrPath))
	require.NoError(t, d.DestroyTask(cfg.ID, false))

	cfg = isolatedConfig(t, "past", hog)
	cfg.Resources.MemoryMb, cfg.Resources.MemoryMaxMb = 32, 0
	_, err = d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	res = wait(t, d, cfg.ID)
	require.False(t, res.Successful())
	require.ErrorIs(t, res.Err, driver.ErrOOMKilled, "%+v", res)
	require.NoError(t, d.DestroyTask(cfg.ID, false))
}

func TestRecoveredIsolatedTaskIsStoppedThroughItsInit(t *testing.T) {
	first := isolated(t)
	cfg := isolatedConfig(t, "recover", "exec sleep 60")
	h, err := first.StartTask(context.Background(), cfg)
	require.NoError(t, err)

	second := New(nil)
	second.PollInterval = 10 * time.Millisecond
	require.NoError(t, second.RecoverTask(h))
	require.NoError(t, second.RecoverTask(h), "recovering a task already held is a no-op")
	require.NoError(t, second.StopTask(context.Background(), cfg.ID, deadline, "SIGTERM"))
	require.ErrorIs(t, wait(t, second, cfg.ID).Err, ErrExitStatusUnknown)
	require.NoError(t, second.DestroyTask(cfg.ID, false))
	require.Equal(t, int(syscall.SIGTERM), wait(t, first, cfg.ID).Signal, "the stop reached the task")
	require.NoError(t, first.DestroyTask(cfg.ID, false))
	for _, dir := range first.CgroupV1(cfg.ID) {
		require.NoDirExists(t, dir)
	}
}

func TestAnIsolatedRootTaskHoldsOnlyNomadsDefaultCapabilities(t *testing.T) {
	d := isolated(t)
	cfg := isolatedConfig(t, "rootcaps", `echo "bnd=$(grep CapBnd /proc/self/status | cut -f2)"
mkdir -p /tmp/m && mount -t tmpfs none /tmp/m 2>/dev/null && echo mount=allowed || echo mount=refused
mknod /tmp/null c 1 3 2>/dev/null; (echo x > /tmp/null) 2>/dev/null && echo device=usable || echo device=refused
touch /dev/made 2>/dev/null && echo dev=writable || echo dev=readonly`)
	cfg.User = "root"
	_, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	require.True(t, wait(t, d, cfg.ID).Successful(), readOr(cfg.StderrPath))
	require.NoError(t, d.DestroyTask(cfg.ID, false))
	got := report(t, cfg.StdoutPath)
	var want uint64
	for _, c := range isolate.Capabilities {
		want |= 1 << c
	}
	require.Equal(t, fmt.Sprintf("%016x", want), got["bnd"], "the bounding set is Nomad's default for exec")
	require.Equal(t, "refused", got["mount"], "no CAP_SYS_ADMIN")
	require.Equal(t, "refused", got["device"], "the task's writable mounts are nodev")
	require.Equal(t, "readonly", got["dev"])
}

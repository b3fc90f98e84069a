package multihost

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// diskSize is the size of the small file system the disk scenario gives
// one server's data dir.
const diskSize = 64 << 20

// smallDisk mounts a tmpfs of diskSize on a new host directory, unmounted
// when the test ends; it skips the test where this process may not mount
// (not root, no CAP_SYS_ADMIN) or the engine does not see host paths.
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", diskSize), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("the disk scenario mounts a small tmpfs as a server's data dir; mount failed (it needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file into dir until its file system is full, short of
// leave bytes; it returns the file's path.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for left := free - leave; left > 0; {
		n := min(int64(len(chunk)), left)
		if _, err := f.Write(chunk[:n]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatal(err)
		}
		left -= n
	}
	return p
}

// testDiskFull: under load, one server's data dir (a small tmpfs) fills
// up. The server stops — it does not limp on — and says why; the other
// two keep taking writes. Space freed, it starts again on its data,
// rejoins and catches up: its data was not corrupted.
func testDiskFull(t *testing.T, fx *fixture) {
	disk := smallDisk(t)
	fc := newFaultClusterWith(t, fx, "s9", 3, 3, map[string]string{"s3": disk})
	victim := fc.agents[2]
	l := startLoad(t, fc, "s9", loadOptions{})
	dw := watchDuplicates(t, fc, "s9")
	l.waitWrites(t, time.Now(), 10, "the load to get ten writes through")

	filled := time.Now()
	fc.setOut(victim, "disk full")
	filler := fill(t, disk, 16<<10)
	l.mark(victim.node + "'s disk filled")
	waitFor(t, 2*stepDeadline, victim.node+" to stop on the full disk", func() error {
		running, err := docker("inspect", "--type", "container", "--format", "{{.State.Running}} {{.State.ExitCode}}", victim.name)
		if err != nil {
			return err
		}
		if strings.HasPrefix(running, "true") {
			return fmt.Errorf("it still runs")
		}
		return nil
	})
	state := mustDocker(t, "inspect", "--type", "container", "--format", "{{.State.ExitCode}}", victim.name)
	logs, _ := dockerCombined("logs", "--tail", "30", victim.name)
	var why []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "no space left on device") || strings.Contains(line, "level=ERROR") {
			why = append(why, line)
		}
	}
	t.Logf("%s stopped %.1fs after its disk filled, exit code %s; its last errors:\n%s",
		victim.node, time.Since(filled).Seconds(), state, strings.Join(why, "\n"))
	if !strings.Contains(logs, "no space left on device") {
		t.Errorf("%s stopped without saying its disk is full; its last output:\n%s", victim.node, logs)
	}
	if state == "0" {
		t.Errorf("%s stopped with exit code 0 on a full disk", victim.node)
	}
	l.waitWrites(t, time.Now(), 10, "the two others to keep taking writes")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	l.mark(victim.node + "'s disk freed and the server started")
	fc.restart(victim)
	fc.waitHealthy(stepDeadline)
	waitCaughtUp(t, fc, victim)
	t.Logf("%s rejoined and caught up %.1fs after the space was freed", victim.node, time.Since(freed).Seconds())
	l.waitWrites(t, time.Now(), 10, "writes after the rejoin")
	l.finish(t, "9 a server's disk fills up")
	dw.check(t)
}

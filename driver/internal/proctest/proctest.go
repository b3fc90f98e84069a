//go:build linux

// Package proctest holds what the tests of the process drivers share:
// waiting for files a task writes and finding what is left of its
// processes.
package proctest

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/driver/internal/proc"
)

// Deadline bounds every wait of the process drivers' tests.
const Deadline = 20 * time.Second

// WaitForFile waits until path holds a complete line and returns its
// trimmed contents.
func WaitForFile(t testing.TB, path string) string {
	t.Helper()
	var data []byte
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 || b[len(b)-1] != '\n' {
			return false
		}
		data = b
		return true
	}, Deadline, 5*time.Millisecond, "waiting for %s", path)
	return strings.TrimSpace(string(data))
}

// Alive reports whether pid names a live, not zombie, process.
func Alive(pid int) bool {
	_, live := proc.Group(pid)
	return live
}

// LiveGroupMembers lists the pids of the live processes in group pgid.
func LiveGroupMembers(t testing.TB, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, live := proc.Group(pid); live && g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// RequireGroupGone waits until no live process is left in group pgid.
func RequireGroupGone(t testing.TB, pgid int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(LiveGroupMembers(t, pgid)) == 0 },
		Deadline, 5*time.Millisecond, "a process of group %d survived", pgid)
}

// RequireGone waits until none of pids names a live process.
func RequireGone(t testing.TB, pids ...int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, p := range pids {
			if Alive(p) {
				return false
			}
		}
		return true
	}, Deadline, 5*time.Millisecond, "a process of %v survived", pids)
}

//go:build unix && !linux

package proc

import (
	"errors"

	"golang.org/x/sys/unix"
)

// knowsStartTimes: without /proc a process's start time is not read, so a
// reattach trusts that the pid was not reused.
const knowsStartTimes = false

// procInfo is what the driver needs to know about a process.
type procInfo struct {
	zombie bool
	pgid   int
	// startTime is always 0 (unknown) here.
	startTime uint64
}

// errProcessGone: no process has the pid.
var errProcessGone = errors.New("no such process")

// lookupProcess checks that pid exists and reads its process group.
func lookupProcess(pid int) (procInfo, error) {
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return procInfo{}, errProcessGone
	}
	pgid, err := unix.Getpgid(pid)
	if err != nil {
		return procInfo{}, errProcessGone
	}
	return procInfo{pgid: pgid}, nil
}

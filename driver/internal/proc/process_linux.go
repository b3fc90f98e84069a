package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// knowsStartTimes: on Linux a process's start time is read from /proc, so a
// handle must record one to be recovered.
const knowsStartTimes = true

// procInfo is what the driver needs to know about a process.
type procInfo struct {
	zombie bool
	pgid   int
	// startTime is in clock ticks after boot; 0 if unknown.
	startTime uint64
}

// errProcessGone: no process has the pid.
var errProcessGone = errors.New("no such process")

// lookupProcess reads /proc/<pid>/stat.
func lookupProcess(pid int) (procInfo, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return procInfo{}, errProcessGone
	}
	if err != nil {
		return procInfo{}, err
	}
	return parseStat(string(data))
}

// parseStat parses the contents of /proc/<pid>/stat: field 3 is the state,
// 5 the process group and 22 the start time.
func parseStat(s string) (procInfo, error) {
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses; the fields resume after the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procInfo{}, errors.New("malformed /proc stat: no command name")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return procInfo{}, fmt.Errorf("malformed /proc stat: %d fields after the command name", len(fields))
	}
	pgid, err := strconv.Atoi(fields[2])
	if err != nil {
		return procInfo{}, fmt.Errorf("malformed /proc stat: pgrp: %w", err)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procInfo{}, fmt.Errorf("malformed /proc stat: starttime: %w", err)
	}
	state := fields[0]
	return procInfo{zombie: state == "Z" || state == "X" || state == "x", pgid: pgid, startTime: start}, nil
}

// Group returns the process group of pid and whether pid names a live
// (not zombie) process; tests use it to find what is left of a task.
func Group(pid int) (pgid int, live bool) {
	info, err := lookupProcess(pid)
	if err != nil || info.zombie {
		return 0, false
	}
	return info.pgid, true
}

// Package cgroup finds the host's control groups and manages the cgroup v2
// groups the exec driver puts tasks in: one group per task, created under
// a "drover" parent, that confines every process the task starts, can kill
// them all at once, and carries the task's cpu and memory limits when the
// hierarchy offers those controllers.
package cgroup

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
)

// Cgroup versions as the fingerprint reports them (Nomad's values).
const (
	V1 = "v1"
	V2 = "v2"
)

// Parent is the directory, under the cgroup v2 mount, that holds the
// groups of drover's tasks.
const Parent = "drover"

// ErrUnavailable: the host has no cgroup v2 hierarchy this process can use.
var ErrUnavailable = errors.New("cgroup: no usable cgroup v2 hierarchy")

// Mounts is what the host's mount table says about control groups.
type Mounts struct {
	// Version is V2 when the unified hierarchy is mounted at
	// /sys/fs/cgroup, V1 when legacy hierarchies are (hybrid hosts
	// included), "" when there are none.
	Version string
	// Mountpoint is the mount Version refers to: /sys/fs/cgroup on most hosts.
	Mountpoint string
	// V2 is where a cgroup2 filesystem is mounted, also on a hybrid host
	// (often /sys/fs/cgroup/unified); "" if nowhere.
	V2 string
	// V1 maps each cgroup v1 controller (such as "memory" or "cpu") to
	// where its hierarchy is mounted; nil without v1 hierarchies.
	V1 map[string]string
}

// parseMounts reads /proc/self/mountinfo's format.
func parseMounts(r io.Reader) Mounts {
	var m Mounts
	var v1 []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		point := unescape(fields[4])
		switch fields[sep+1] {
		case "cgroup2":
			if m.V2 == "" || point == "/sys/fs/cgroup" {
				m.V2 = point
			}
		case "cgroup":
			v1 = append(v1, point)
			if sep+3 < len(fields) {
				for _, opt := range strings.Split(fields[sep+3], ",") {
					if opt != "rw" && opt != "ro" && !strings.Contains(opt, "=") {
						if m.V1 == nil {
							m.V1 = map[string]string{}
						}
						m.V1[opt] = point
					}
				}
			}
		}
	}
	switch {
	case m.V2 != "" && (m.V2 == "/sys/fs/cgroup" || len(v1) == 0):
		m.Version, m.Mountpoint = V2, m.V2
	case len(v1) > 0:
		m.Version, m.Mountpoint = V1, commonParent(v1)
	}
	return m
}

// commonParent is the directory the v1 hierarchies are mounted in, such as
// /sys/fs/cgroup for /sys/fs/cgroup/cpu, /sys/fs/cgroup/memory, ...
func commonParent(points []string) string {
	parent := points[0]
	if i := strings.LastIndexByte(parent, '/'); i > 0 {
		parent = parent[:i]
	}
	for _, p := range points {
		if !strings.HasPrefix(p, parent+"/") {
			return points[0]
		}
	}
	return parent
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Limits are what a task may use; zero fields are not limited.
type Limits struct {
	// CPUMHz becomes cpu.weight (v2) or cpu.shares (v1), the task's share
	// of contended cpu time.
	CPUMHz int64
	// MemoryMB is the task's memory: its hard limit (memory.max, v1's
	// memory.limit_in_bytes) unless MemoryMaxMB is larger, and then its
	// soft one (memory.low, v1's memory.soft_limit_in_bytes).
	MemoryMB int64
	// MemoryMaxMB, when larger than MemoryMB, is the hard limit
	// (memory oversubscription's memory_max).
	MemoryMaxMB int64
}

// Memory returns the hard and soft memory limits in bytes; soft is 0 when
// there is none (the hard limit is the task's memory).
func (l Limits) Memory() (hard, soft int64) {
	if l.MemoryMaxMB > l.MemoryMB {
		return l.MemoryMaxMB << 20, l.MemoryMB << 20
	}
	return l.MemoryMB << 20, 0
}

// Shares converts MHz to cgroup v1's cpu.shares (2..262144), as Nomad
// does: one share per MHz.
func Shares(mhz int64) int64 { return min(max(mhz, 2), 262144) }

// Weight converts MHz, as Nomad converts cpu shares, to cgroup v2's
// cpu.weight range 1..10000.
func Weight(mhz int64) int64 {
	shares := min(max(mhz, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

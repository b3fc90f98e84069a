package cgroup

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const unified = `22 1 0:21 / /proc rw - proc proc rw
25 21 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
`

const legacy = `32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
`

func TestParseMounts(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want Mounts
	}{
		"hybrid": {hybrid, Mounts{Version: V1, Mountpoint: "/sys/fs/cgroup", V2: "/sys/fs/cgroup/unified",
			V1: map[string]string{"cpu": "/sys/fs/cgroup/cpu", "memory": "/sys/fs/cgroup/memory"}}},
		"unified": {unified, Mounts{Version: V2, Mountpoint: "/sys/fs/cgroup", V2: "/sys/fs/cgroup"}},
		"legacy": {legacy, Mounts{Version: V1, Mountpoint: "/sys/fs/cgroup",
			V1: map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory"}}},
		"none":           {"22 1 0:21 / /proc rw - proc proc rw\n", Mounts{}},
		"garbage":        {"junk\n- -\n1 2 3 4 5 - \n", Mounts{}},
		"v2 elsewhere":   {"9 1 0:3 / /mnt/cg\\040two rw - cgroup2 none rw\n", Mounts{Version: V2, Mountpoint: "/mnt/cg two", V2: "/mnt/cg two"}},
		"optional field": {"9 1 0:3 / /sys/fs/cgroup rw shared:9 master:2 - cgroup2 none rw\n", Mounts{Version: V2, Mountpoint: "/sys/fs/cgroup", V2: "/sys/fs/cgroup"}},
	} {
		require.Equal(t, tc.want, parseMounts(strings.NewReader(tc.in)), name)
	}
}

func TestWeight(t *testing.T) {
	require.Equal(t, int64(1), Weight(0))
	require.Equal(t, int64(1), Weight(2))
	require.Equal(t, int64(39), Weight(1024), "Nomad's conversion of 1024 shares")
	require.Equal(t, int64(10000), Weight(1<<40), "capped at the top of the range")
}

func TestNameHasNoSlash(t *testing.T) {
	require.Equal(t, "alloc.task", Name("alloc/task"))
	require.Equal(t, "_.", Name("/"), "never the manager's own directory")
	require.Equal(t, "_", Name(""))
	require.Equal(t, "_..", Name(".."))
}

func TestMemoryLimitsFollowMemoryMax(t *testing.T) {
	hard, soft := Limits{MemoryMB: 64}.Memory()
	require.Equal(t, int64(64<<20), hard, "memory alone is the hard limit")
	require.Zero(t, soft)
	hard, soft = Limits{MemoryMB: 64, MemoryMaxMB: 256}.Memory()
	require.Equal(t, int64(256<<20), hard, "memory_max is the hard limit")
	require.Equal(t, int64(64<<20), soft, "and memory the soft one")
	hard, soft = Limits{MemoryMB: 64, MemoryMaxMB: 64}.Memory()
	require.Equal(t, int64(64<<20), hard)
	require.Zero(t, soft)
}

func TestShares(t *testing.T) {
	require.Equal(t, int64(2), Shares(0))
	require.Equal(t, int64(500), Shares(500))
	require.Equal(t, int64(262144), Shares(1<<30))
}

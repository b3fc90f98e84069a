//go:build linux

package fingerprint

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRealHost fingerprints the machine the tests run on.
func TestRealHost(t *testing.T) {
	dir := t.TempDir()
	attrs, res, err := Run(context.Background(), append(Builtins(), Disk(dir)))
	require.NoError(t, err)
	for _, k := range []string{
		"cpu.arch", "cpu.numcores", "cpu.frequency", "cpu.totalcompute", "memory.totalbytes",
		"kernel.name", "kernel.version", "kernel.arch", "unique.hostname",
		"unique.storage.volume", "unique.storage.bytestotal", "unique.storage.bytesfree",
		"unique.network.ip-address", "network.interface", "network.interfaces",
	} {
		require.NotEmpty(t, attrs[k], k)
	}
	require.Equal(t, runtime.GOARCH, attrs["cpu.arch"])
	require.Equal(t, runtime.GOOS, attrs["kernel.name"])
	for _, p := range osReleasePaths {
		if _, err := os.Stat(p); err == nil {
			require.NotEmpty(t, attrs["os.name"], "os-release exists at %s", p)
			break
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err == nil {
		require.Contains(t, []string{"v1", "v2"}, attrs["unique.cgroup.version"])
		require.NotEmpty(t, attrs["unique.cgroup.mountpoint"])
	}
	require.Positive(t, res.CpuMhz)
	require.Positive(t, res.MemoryMb)
	require.Positive(t, res.DiskMb)
	require.Equal(t, attrs["cpu.totalcompute"], strconv.FormatInt(res.CpuMhz, 10))

	total, err := strconv.ParseUint(attrs["unique.storage.bytestotal"], 10, 64)
	require.NoError(t, err)
	free, err := strconv.ParseUint(attrs["unique.storage.bytesfree"], 10, 64)
	require.NoError(t, err)
	require.LessOrEqual(t, free, total)
	t.Logf("address %s (%s), cgroup %s at %s", attrs["unique.network.ip-address"], attrs["network.interface"],
		attrs["unique.cgroup.version"], attrs["unique.cgroup.mountpoint"])
	t.Logf("volume %s, %d MHz, %d MB memory, %d MB disk free", attrs["unique.storage.volume"],
		res.CpuMhz, res.MemoryMb, res.DiskMb)
}

func TestDiskErrors(t *testing.T) {
	_, err := Disk("").Fingerprint(context.Background())
	require.Error(t, err)
	_, err = Disk("/no/such/dir").Fingerprint(context.Background())
	require.ErrorContains(t, err, "/no/such/dir")
}

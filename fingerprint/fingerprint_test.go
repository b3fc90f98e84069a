package fingerprint

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCPUInfo(t *testing.T) {
	model, mhz := parseCPUInfo(strings.NewReader("processor\t: 0\nmodel name\t: AMD EPYC 7B13\ncpu MHz\t\t: 2449.998\n\nprocessor\t: 1\nmodel name\t: other\ncpu MHz\t\t: 1.0\n"))
	require.Equal(t, "AMD EPYC 7B13", model)
	require.InDelta(t, 2449.998, mhz, 0.001)
	model, mhz = parseCPUInfo(strings.NewReader("processor : 0\nFeatures : fp asimd\n"))
	require.Empty(t, model)
	require.Zero(t, mhz)
}

func TestParseMemInfo(t *testing.T) {
	b, err := parseMemInfo(strings.NewReader("MemFree:  100 kB\nMemTotal:       16384 kB\n"))
	require.NoError(t, err)
	require.Equal(t, int64(16384*1024), b)
	_, err = parseMemInfo(strings.NewReader("nothing here"))
	require.Error(t, err)
}

func TestParseOSRelease(t *testing.T) {
	id, v := parseOSRelease("NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n")
	require.Equal(t, "debian", id)
	require.Equal(t, "12", v)
}

func TestRealHost(t *testing.T) {
	attrs, res, err := Run(context.Background(), append(Builtins(), Disk(t.TempDir())))
	require.NoError(t, err)
	for _, k := range []string{"cpu.arch", "cpu.numcores", "cpu.totalcompute", "memory.totalbytes", "kernel.name", "kernel.version", "unique.hostname", "unique.storage.bytesfree"} {
		require.NotEmpty(t, attrs[k], k)
	}
	require.Positive(t, res.CpuMhz)
	require.Positive(t, res.MemoryMb)
	require.Positive(t, res.DiskMb)
}

type failing struct{}

func (failing) Name() string { return "broken" }
func (failing) Fingerprint(context.Context) (*Result, error) {
	return nil, errors.New("no such device")
}

func TestRunKeepsOtherResultsWhenOneFails(t *testing.T) {
	attrs, _, err := Run(context.Background(), []Fingerprinter{
		failing{}, Static("rack", map[string]string{"meta.rack": "r1"}), Static("gpu", map[string]string{"gpu.count": "2"}),
	})
	require.ErrorContains(t, err, "fingerprint broken: no such device")
	require.Equal(t, "r1", attrs["meta.rack"])
	require.Equal(t, "2", attrs["gpu.count"])
}

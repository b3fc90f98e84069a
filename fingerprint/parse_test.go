package fingerprint

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const x86CPUInfo = `processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7B13
cpu MHz		: 2449.998
cache size	: 512 KB

processor	: 1
vendor_id	: AuthenticAMD
model name	: other
cpu MHz		: 1.0
`

const armCPUInfo = `processor	: 0
BogoMIPS	: 50.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics
CPU implementer	: 0x41
CPU part	: 0xd0c

processor	: 1
BogoMIPS	: 50.00
`

func TestParseCPUInfo(t *testing.T) {
	model, mhz := parseCPUInfo(strings.NewReader(x86CPUInfo))
	require.Equal(t, "AMD EPYC 7B13", model)
	require.InDelta(t, 2449.998, mhz, 0.001)

	model, mhz = parseCPUInfo(strings.NewReader(armCPUInfo))
	require.Empty(t, model)
	require.Zero(t, mhz)

	_, mhz = parseCPUInfo(strings.NewReader("cpu MHz : fast\ncpu MHz : 0\ncpu MHz : 800.5\n"))
	require.InDelta(t, 800.5, mhz, 0.001, "unparsable and zero values are skipped")
}

func TestCPUFacts(t *testing.T) {
	r := cpuFacts(4, strings.NewReader(x86CPUInfo), "3500000\n")
	require.Equal(t, map[string]string{
		"cpu.numcores": "4", "cpu.frequency": "2450", "cpu.totalcompute": "9800", "cpu.modelname": "AMD EPYC 7B13",
	}, r.Attributes, "cpuinfo's MHz comes first")
	require.Equal(t, int64(9800), r.Resources.CpuMhz)

	r = cpuFacts(8, strings.NewReader(armCPUInfo), "2100000\n")
	require.Equal(t, "2100", r.Attributes["cpu.frequency"], "cpufreq's max is the fallback")
	require.Equal(t, int64(16800), r.Resources.CpuMhz)
	require.NotContains(t, r.Attributes, "cpu.modelname")

	for _, maxFreq := range []string{"", "garbage", "0", "-5"} {
		r = cpuFacts(2, strings.NewReader(armCPUInfo), maxFreq)
		require.Equal(t, "1000", r.Attributes["cpu.frequency"], "the default, never 0 (%q)", maxFreq)
		require.Equal(t, int64(2*DefaultCoreMHz), r.Resources.CpuMhz)
	}
	r = cpuFacts(0, nil, "")
	require.Equal(t, "1", r.Attributes["cpu.numcores"])
	require.Equal(t, int64(DefaultCoreMHz), r.Resources.CpuMhz)
}

func TestParseMemInfo(t *testing.T) {
	b, err := parseMemInfo(strings.NewReader("MemFree:  100 kB\nMemTotal:       16384 kB\nSwapTotal: 1 kB\n"))
	require.NoError(t, err)
	require.Equal(t, int64(16384*1024), b)
	for _, bad := range []string{"nothing here", "MemTotal: lots kB", "MemTotal: 5 MB", "MemTotal: 0 kB", ""} {
		_, err = parseMemInfo(strings.NewReader(bad))
		require.Error(t, err, bad)
	}
}

func TestParseOSRelease(t *testing.T) {
	rel := parseOSRelease(`# a comment
NAME="Debian GNU/Linux"
ID=debian
VERSION_ID="12"
PRETTY_NAME='Debian 12'
QUOTED="say \"hi\" \$HOME \\ done"
broken line
=novalue
`)
	require.Equal(t, "debian", rel["ID"])
	require.Equal(t, "12", rel["VERSION_ID"])
	require.Equal(t, "Debian GNU/Linux", rel["NAME"])
	require.Equal(t, "Debian 12", rel["PRETTY_NAME"])
	require.Equal(t, `say "hi" $HOME \ done`, rel["QUOTED"])
	require.Len(t, rel, 5)
}

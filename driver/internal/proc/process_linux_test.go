package proc

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	info, err := parseStat("4242 (my (odd) cmd) S 1 4240 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200\n")
	require.NoError(t, err)
	require.Equal(t, procInfo{pgid: 4240, startTime: 987654}, info)

	info, err = parseStat("7 (sh) Z 1 7 7 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 55 0 0\n")
	require.NoError(t, err)
	require.True(t, info.zombie)

	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2", "1 (x) S 1 nan 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0",
		"1 (x) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -9 0 0"} {
		_, err := parseStat(bad)
		require.Error(t, err, bad)
	}
}

func TestLookupProcess(t *testing.T) {
	info, err := lookupProcess(os.Getpid())
	require.NoError(t, err)
	require.False(t, info.zombie)
	require.Positive(t, info.startTime)
	require.Positive(t, info.pgid)
	_, err = lookupProcess(1 << 30)
	require.ErrorIs(t, err, errProcessGone)
}

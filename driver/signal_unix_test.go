//go:build unix

package driver

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSignal(t *testing.T) {
	for name, want := range map[string]syscall.Signal{
		"": syscall.SIGINT, "SIGTERM": syscall.SIGTERM, "TERM": syscall.SIGTERM, "sigkill": syscall.SIGKILL,
		" SIGHUP ": syscall.SIGHUP, "SIGUSR1": syscall.SIGUSR1,
	} {
		got, err := ParseSignal(name)
		require.NoError(t, err, name)
		require.Equal(t, want, got, name)
	}
	for _, bad := range []string{"SIGNOPE", "15", "SIG", "-"} {
		_, err := ParseSignal(bad)
		require.ErrorIs(t, err, ErrInvalidConfig, bad)
	}
}

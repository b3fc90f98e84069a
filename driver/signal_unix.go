//go:build unix

package driver

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ParseSignal turns a name like "SIGTERM" or "TERM" into a signal; ""
// means SIGINT, the default kill signal for processes.
func ParseSignal(name string) (syscall.Signal, error) {
	if name == "" {
		return syscall.SIGINT, nil
	}
	n := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if s := unix.SignalNum(n); s != 0 {
		return s, nil
	}
	return 0, fmt.Errorf("%w: unknown signal %q", ErrInvalidConfig, name)
}

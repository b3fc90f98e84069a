//go:build !unix && !plan9

package driver

import (
	"errors"
	"fmt"
	"syscall"
)

// ParseSignal is unsupported off unix: there are no signals to send.
func ParseSignal(name string) (syscall.Signal, error) {
	return 0, fmt.Errorf("driver: signal %q: %w", name, errors.ErrUnsupported)
}

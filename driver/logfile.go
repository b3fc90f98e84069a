package driver

import (
	"fmt"
	"os"
)

// OpenLog opens a task's output file for appending, creating it if needed
// (0640: not readable by other users); an empty path discards the output.
func OpenLog(path string) (*os.File, error) {
	if path == "" {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("driver: open %s: %w", os.DevNull, err)
		}
		return f, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("driver: open task log: %w", err)
	}
	return f, nil
}

package mock

import (
	"fmt"
	"time"

	"github.com/droverhq/drover/driver"
)

// script is a mock task's parsed config.
type script struct {
	runFor     time.Duration // negative: until stopped
	exitCode   int
	exitErr    string
	startError string
	stdout     string
}

func parseConfig(cfg *driver.TaskConfig) (*script, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.Config
	if err := driver.CheckKeys(c, "run_for", "exit_code", "exit_err_msg", "start_error", "stdout_string", "kill_after"); err != nil {
		return nil, err
	}
	s := &script{}
	var err error
	if s.runFor, err = parseRunFor(c["run_for"]); err != nil {
		return nil, err
	}
	if s.exitCode, err = driver.ConfigInt(c, "exit_code"); err != nil {
		return nil, err
	}
	if s.exitErr, err = driver.ConfigString(c, "exit_err_msg"); err != nil {
		return nil, err
	}
	if s.startError, err = driver.ConfigString(c, "start_error"); err != nil {
		return nil, err
	}
	if s.stdout, err = driver.ConfigString(c, "stdout_string"); err != nil {
		return nil, err
	}
	return s, nil
}

// parseRunFor reads run_for: a duration string, or the number 0 (exit at
// once) or a negative number (run until stopped).
func parseRunFor(v any) (time.Duration, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64, int, int64:
		n, err := driver.ConfigInt(map[string]any{"run_for": x}, "run_for")
		if err != nil {
			return 0, err
		}
		switch {
		case n == 0:
			return 0, nil
		case n < 0:
			return -1, nil
		}
		return 0, fmt.Errorf("%w: run_for must be a duration string such as \"5s\", got the number %d",
			driver.ErrInvalidConfig, n)
	case string:
		switch x {
		case "", "0":
			return 0, nil
		case "-1":
			return -1, nil
		}
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("%w: run_for: %w", driver.ErrInvalidConfig, err)
		}
		if d < 0 {
			return -1, nil
		}
		return d, nil
	}
	return 0, fmt.Errorf("%w: run_for must be a duration string, got %T", driver.ErrInvalidConfig, v)
}

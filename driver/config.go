package driver

import (
	"fmt"
	"time"
)

// ConfigString reads an optional string key of a task config.
func ConfigString(cfg map[string]any, key string) (string, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s must be a string, got %T", ErrInvalidConfig, key, v)
	}
	return s, nil
}

// ConfigStrings reads an optional list-of-strings key of a task config.
func ConfigStrings(cfg map[string]any, key string) ([]string, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		if ss, ok := v.([]string); ok {
			return ss, nil
		}
		return nil, fmt.Errorf("%w: %s must be a list of strings, got %T", ErrInvalidConfig, key, v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s[%d] must be a string, got %T", ErrInvalidConfig, key, i, x)
		}
		out[i] = s
	}
	return out, nil
}

// ConfigInt reads an optional integer key (JSON numbers arrive as float64).
func ConfigInt(cfg map[string]any, key string) (int, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return 0, nil
	}
	switch n := v.(type) {
	case float64:
		if n != float64(int(n)) {
			return 0, fmt.Errorf("%w: %s must be a whole number, got %v", ErrInvalidConfig, key, n)
		}
		return int(n), nil
	case int:
		return n, nil
	case int64:
		return int(n), nil
	}
	return 0, fmt.Errorf("%w: %s must be a number, got %T", ErrInvalidConfig, key, v)
}

// ConfigDuration reads an optional duration key written like "1.5s".
func ConfigDuration(cfg map[string]any, key string) (time.Duration, error) {
	s, err := ConfigString(cfg, key)
	if err != nil || s == "" {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, key, err)
	}
	return d, nil
}

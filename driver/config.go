package driver

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// The Config helpers read a task's driver config as the client hands it
// over: the AsMap of a protobuf Struct, where numbers are float64 and lists
// are []any. A missing or null key reads as the zero value; a key of the
// wrong type is an error wrapping ErrInvalidConfig.

// CheckKeys rejects config keys a driver does not know, so a misspelt key
// fails the task instead of being silently ignored.
func CheckKeys(cfg map[string]any, known ...string) error {
	var unknown []string
	for k := range cfg {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("%w: unknown key(s) %s (known: %s)", ErrInvalidConfig,
		strings.Join(unknown, ", "), strings.Join(known, ", "))
}

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
	switch list := v.(type) {
	case []string:
		return slices.Clone(list), nil
	case []any:
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
	return nil, fmt.Errorf("%w: %s must be a list of strings, got %T", ErrInvalidConfig, key, v)
}

// ConfigInt reads an optional integer key; a float64 (how protobuf and JSON
// numbers arrive) must be a whole number in int's range.
func ConfigInt(cfg map[string]any, key string) (int, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return 0, nil
	}
	switch n := v.(type) {
	case float64:
		if n != math.Trunc(n) || n < math.MinInt || n >= math.MaxInt {
			return 0, fmt.Errorf("%w: %s must be a whole number, got %v", ErrInvalidConfig, key, n)
		}
		return int(n), nil
	case int:
		return n, nil
	case int32:
		return int(n), nil
	case int64:
		if n < math.MinInt || n > math.MaxInt {
			return 0, fmt.Errorf("%w: %s is out of range: %d", ErrInvalidConfig, key, n)
		}
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
		return 0, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, key, err)
	}
	return d, nil
}

// ConfigBool reads an optional boolean key of a task config.
func ConfigBool(cfg map[string]any, key string) (bool, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%w: %s must be true or false, got %T", ErrInvalidConfig, key, v)
	}
	return b, nil
}

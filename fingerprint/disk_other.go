//go:build !linux && !darwin

package fingerprint

import "errors"

// diskUsage is not implemented on this system.
func diskUsage(string) (usage, error) { return usage{}, errors.ErrUnsupported }

func volumeOf(string) string { return "" }
